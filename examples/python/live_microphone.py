"""Translates what the microphone hears, live: captions as you speak, the translation of
each sentence when it ends, and the translated speech played back.

    pip install dragoman-*.whl sounddevice
    python examples/python/live_microphone.py --from en --to de

Needs a microphone (and PortAudio, which sounddevice loads). Ctrl-C stops.
"""

import argparse

import dragoman

try:
    import sounddevice
except ImportError as e:
    raise SystemExit("this example records with sounddevice: pip install sounddevice") from e


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", default="en")
    parser.add_argument("--to", dest="target", default="de")
    args = parser.parse_args()

    store = dragoman.ModelStore()
    store.pull_defaults()
    pipeline = dragoman.Pipeline(
        dragoman.LiveCaptioner(store),
        dragoman.Translator.live(store),
        dragoman.Voice(store),
        dragoman.PipelineOptions(spoken=args.source, captions=[args.target], speech=[args.target]),
    )
    rate = 16000

    def heard(indata, frames, time, status):
        pipeline.push_pcm(indata[:, 0].tolist(), rate)

    with sounddevice.InputStream(samplerate=rate, channels=1, dtype="float32", blocksize=rate // 50, callback=heard):
        print("Speak; Ctrl-C stops.")
        try:
            while True:
                event = pipeline.next_event(100)
                if event is None:
                    continue
                if event.is_CAPTION():
                    mark = "" if event.is_final else "…"
                    print(f"[{event.language}] {event.text}{mark}")
                elif event.is_SPEECH():
                    sounddevice.play(event.samples, event.sample_rate, blocking=False)
                elif event.is_ERROR():
                    print(f"({event.stage}: {event.message})")
        except KeyboardInterrupt:
            pipeline.finish()


if __name__ == "__main__":
    main()
