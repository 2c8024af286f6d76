"""Silero VAD probabilities from onnxruntime, for stt/tests/vad.rs: the reference that our
candle implementation must match. Feeds 512-sample chunks with the 64-sample context and the
recurrent state carried over, as silero-vad's own OnnxWrapper does; zero-pads the last chunk.

Usage: python3 silero_onnx.py MODEL.onnx AUDIO.wav   (16 kHz mono 16-bit; needs onnxruntime numpy)
Prints a JSON list of probabilities, one per chunk.
"""
import json
import sys
import wave

import numpy as np
import onnxruntime

model, audio = sys.argv[1], sys.argv[2]
with wave.open(audio) as w:
    assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
    samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0

options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 1
session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
state = np.zeros((2, 1, 128), dtype=np.float32)
context = np.zeros((1, 64), dtype=np.float32)
sr = np.array(16000, dtype=np.int64)
probs = []
for start in range(0, len(samples), 512):
    chunk = np.zeros((1, 512), dtype=np.float32)
    piece = samples[start:start + 512]
    chunk[0, : len(piece)] = piece
    x = np.concatenate([context, chunk], axis=1)
    out, state = session.run(None, {"input": x, "state": state, "sr": sr})
    context = x[:, -64:]
    probs.append(float(out[0][0]))
json.dump(probs, sys.stdout)
