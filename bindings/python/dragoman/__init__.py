"""dragoman: live speech translation on the CPU.

Speech-to-text (Whisper), translation (LLMs and dedicated models), speech (Piper voices and
espeak-ng) and one speaker's whole translation pipeline, from the Rust crates through UniFFI.
Every class and function is documented; ``help(dragoman.Pipeline)`` shows it.

    import dragoman
    store = dragoman.ModelStore()            # $DRAGOMAN_HOME, or the user's cache directory
    store.pull_defaults()
    transcript = dragoman.Transcriber(store).transcribe_file("talk.wav", dragoman.TranscribeOptions())
    print(transcript.to_srt())
"""

from ._native.dragoman import *  # noqa: F401,F403
from ._native.dragoman import __all__  # noqa: F401
