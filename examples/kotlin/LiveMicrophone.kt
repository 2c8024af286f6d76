// Translates what the microphone hears, live, from Kotlin on the JVM: captions as you speak,
// each sentence's translation when it ends, and the translated speech played back.
//
//   java -Djna.library.path=target/dist -cp live.jar:jna.jar:kotlin-stdlib.jar LiveMicrophoneKt en de
//
// (Build as CaptionFile.kt says.) Needs a microphone; Ctrl-C stops.

import dev.dragoman.*
import javax.sound.sampled.AudioFormat
import javax.sound.sampled.AudioSystem

fun main(args: Array<String>) {
    val (from, to) = if (args.size >= 2) args[0] to args[1] else "en" to "de"
    val store = ModelStore()
    store.pullDefaults()
    val rate = 16_000
    val speaker = AudioSystem.getSourceDataLine(AudioFormat(22_050f, 16, 1, true, false))
    val pipeline = Pipeline(
        LiveCaptioner(store),
        Translator.live(store),
        Voice(store),
        PipelineOptions(spoken = from, captions = listOf(to), speech = listOf(to)),
        object : PipelineListener {
            override fun onEvent(event: PipelineEvent) {
                when (event) {
                    is PipelineEvent.Caption -> println("[${event.language}] ${event.text}${if (event.isFinal) "" else "…"}")
                    is PipelineEvent.Speech -> play(speaker, event.samples, event.sampleRate.toFloat())
                    is PipelineEvent.Error -> System.err.println("(${event.stage}: ${event.message})")
                    else -> {}
                }
            }
        },
    )
    val microphone = AudioSystem.getTargetDataLine(AudioFormat(rate.toFloat(), 16, 1, true, false))
    microphone.open()
    microphone.start()
    println("Speak; Ctrl-C stops.")
    val buffer = ByteArray(rate / 50 * 2) // 20 ms
    while (true) {
        val n = microphone.read(buffer, 0, buffer.size)
        val samples = (0 until n / 2).map { i ->
            ((buffer[2 * i + 1].toInt() shl 8) or (buffer[2 * i].toInt() and 0xff)).toShort() / 32768f
        }
        pipeline.pushPcm(samples, rate.toUInt())
    }
}

/** Plays mono float samples (the line is reopened at the voice's rate when it differs). */
fun play(line: javax.sound.sampled.SourceDataLine, samples: List<Float>, rate: Float) {
    if (!line.isOpen || line.format.sampleRate != rate) {
        line.close()
        line.open(AudioFormat(rate, 16, 1, true, false))
        line.start()
    }
    val bytes = ByteArray(samples.size * 2)
    samples.forEachIndexed { i, s ->
        val v = (s.coerceIn(-1f, 1f) * 32767).toInt()
        bytes[2 * i] = v.toByte()
        bytes[2 * i + 1] = (v shr 8).toByte()
    }
    line.write(bytes, 0, bytes.size)
}
