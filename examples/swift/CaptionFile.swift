// Captions a recording as SRT subtitles, from Swift (macOS, iOS, Linux), with the package
// bindings/swift/generate.sh lays out (add it as a dependency: .package(path: "...")).

import Dragoman

let store = try ModelStore()
_ = try store.pullDefaults()
let transcriber = try Transcriber(store: store, model: "whisper-base")
let transcript = try transcriber.transcribeFile(path: CommandLine.arguments[1], options: TranscribeOptions())
print(transcript.toSrt(), terminator: "")
