// The Kotlin bindings run against the built library: a recording transcribed, live captions
// of pushed audio, text translated, speech made, and a missing model reported as the error it
// is. Run by bindings/kotlin/test.sh (scripts/test.sh): `java ... DragomanTestKt STORE JFK.wav`.

import dev.dragoman.*
import java.io.File
import javax.sound.sampled.AudioSystem
import kotlin.system.exitProcess

fun check(condition: Boolean, message: () -> String) {
    if (!condition) {
        System.err.println("FAILED: ${message()}")
        exitProcess(1)
    }
}

fun words(text: String): List<String> =
    text.lowercase().map { if (it.isLetterOrDigit() || it.isWhitespace()) it else ' ' }.joinToString("").split(Regex("\\s+")).filter { it.isNotEmpty() }

/** Word error rate of `hypothesis` against `reference`. */
fun wer(reference: String, hypothesis: String): Double {
    val ref = words(reference)
    val hyp = words(hypothesis)
    var row = IntArray(hyp.size + 1) { it }
    for ((i, r) in ref.withIndex()) {
        val next = IntArray(hyp.size + 1)
        next[0] = i + 1
        for ((j, h) in hyp.withIndex()) {
            next[j + 1] = minOf(row[j + 1] + 1, next[j] + 1, row[j] + if (r == h) 0 else 1)
        }
        row = next
    }
    return row[hyp.size].toDouble() / ref.size
}

/** 16-bit mono PCM of a WAV file, as -1..1 floats. */
fun pcm(path: String): Pair<List<Float>, Int> {
    AudioSystem.getAudioInputStream(File(path)).use { stream ->
        val bytes = stream.readAllBytes()
        val samples = (0 until bytes.size / 2).map { i ->
            ((bytes[2 * i + 1].toInt() shl 8) or (bytes[2 * i].toInt() and 0xff)).toShort() / 32768f
        }
        return samples to stream.format.sampleRate.toInt()
    }
}

const val JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."

fun main(args: Array<String>) {
    val (storeDir, jfkPath) = args
    val store = ModelStore(storeDir)
    check(store.list().any { it.id == "whisper-base" && it.pulled }) { "whisper-base is not pulled in $storeDir" }

    // A recording to text and subtitles.
    val transcriber = Transcriber(store, "whisper-base")
    val transcript = transcriber.transcribeFile(jfkPath, TranscribeOptions())
    check(wer(JFK, transcript.text()) <= 0.1) { "transcript: ${transcript.text()}" }
    check(transcript.language() == "en") { "language ${transcript.language()}" }
    check(transcript.toSrt().contains("-->")) { "SRT: ${transcript.toSrt()}" }

    // Live captions of 20 ms pushes.
    val (samples, rate) = pcm(jfkPath)
    LiveCaptioner(store).session("en").use { session ->
        samples.chunked(rate / 50).forEach { session.pushPcm(it, rate.toUInt()) }
        session.finish()
        val finals = mutableListOf<String>()
        var partials = 0
        while (!session.isDone()) {
            when (val event = session.nextEvent(30_000u)) {
                is CaptionEvent.Partial -> {
                    partials++
                    check(event.text == event.stable + event.unstable) { "partial $event" }
                }
                is CaptionEvent.Final -> finals.add(event.text)
                null -> {}
            }
        }
        check(partials > 0 && wer(JFK, finals.joinToString(" ")) <= 0.15) { "partials $partials, finals $finals" }
    }

    // Text to text.
    val german = Translator(store, "en", "de").translate("Good morning. Thank you very much for your help.", "en", "de")
    check(german.contains("Morgen") && german.contains("Dank")) { "translation: $german" }

    // Text to speech, heard back.
    val clips = Voice(store).speak("Good morning. The train leaves at nine.", "en")
    check(clips.size == 2) { "clips: ${clips.map { it.text }}" }
    for (clip in clips) {
        val heard = transcriber.transcribePcm(clip.samples, clip.sampleRate, TranscribeOptions(language = "en"))
        check(wer(clip.text, heard.text()) <= 0.34) { "spoke '${clip.text}', heard '${heard.text()}'" }
    }

    // A missing model is a model error that says how to pull it.
    val empty = kotlin.io.path.createTempDirectory("dragoman-empty").toString()
    try {
        Transcriber(ModelStore(empty), "whisper-base")
        check(false) { "no error for a missing model" }
    } catch (e: DragomanException.Model) {
        check(e.message!!.contains("pull whisper-base")) { "message: ${e.message}" }
    }
    println("kotlin bindings: all checks passed")
}
