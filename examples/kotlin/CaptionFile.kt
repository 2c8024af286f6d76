// Captions a recording as SRT subtitles, from Kotlin (JVM or Android).
//
// Build: generate the bindings (bindings/kotlin/test.sh shows the commands), then
//   kotlinc dragoman.kt examples/kotlin/CaptionFile.kt -cp jna.jar -d caption.jar
//   java -Djna.library.path=target/dist -cp caption.jar:jna.jar:kotlin-stdlib.jar CaptionFileKt talk.wav

import dev.dragoman.*

fun main(args: Array<String>) {
    val store = ModelStore()
    store.pullDefaults(object : PullListener {
        override fun onProgress(progress: PullProgress) {
            if (progress.stage == "downloaded") System.err.println("${progress.model}: ${progress.name}")
        }
    })
    Transcriber(store, "whisper-base").use { transcriber ->
        print(transcriber.transcribeFile(args[0], TranscribeOptions()).toSrt())
    }
}
