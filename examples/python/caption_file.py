"""Captions a recording as subtitles, and translates them.

    pip install dragoman-*.whl     (see the README: one maturin command builds the wheel)
    python examples/python/caption_file.py talk.mp3 --to de > talk.de.srt

The first run pulls the default models (about 1.5 GB) into the user's cache, with progress.
"""

import argparse
import sys

import dragoman


class Progress(dragoman.PullListener):
    """Prints each download's progress on stderr."""

    def on_progress(self, p):
        if p.stage == "download" and p.total_bytes:
            print(f"\r{p.model}: {p.name} {p.done_bytes / p.total_bytes:4.0%}", end="", file=sys.stderr)
        elif p.stage == "downloaded":
            print(file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--to", help="translate the subtitles into this language")
    args = parser.parse_args()

    store = dragoman.ModelStore()
    store.pull_defaults(Progress())
    transcript = dragoman.Transcriber(store).transcribe_file(args.file, dragoman.TranscribeOptions())
    if not args.to:
        print(transcript.to_srt(), end="")
        return
    segments = transcript.segments()
    translator = dragoman.Translator(store, transcript.language(), args.to)
    lines = translator.translate_lines([s.text for s in segments], transcript.language(), args.to)
    for n, (segment, line) in enumerate(zip(segments, lines), 1):
        print(f"{n}\n{srt_time(segment.start)} --> {srt_time(segment.end)}\n{line}\n")


def srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02}:{ms // 60_000 % 60:02}:{ms // 1000 % 60:02},{ms % 1000:03}"


if __name__ == "__main__":
    main()
