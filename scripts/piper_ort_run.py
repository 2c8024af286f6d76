"""Times onnxruntime on the phoneme ids `bench_tts run` wrote (scripts/bench_tts.sh runs it):
the same Piper ONNX file and scales, one sentence at a time, 2 threads. Prints JSON.

Usage: python3 piper_ort_run.py VOICE.onnx IDS.json NOISE LENGTH NOISE_W
"""
import json
import resource
import sys
import time

import numpy as np
import onnxruntime

model, ids_file = sys.argv[1], sys.argv[2]
scales = np.array([float(v) for v in sys.argv[3:6]], dtype=np.float32)
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 2
options.inter_op_num_threads = 1
session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
sentences = json.load(open(ids_file))


def run(ids):
    return session.run(None, {
        "input": np.array([ids], dtype=np.int64),
        "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": scales,
    })[0].size


run(sentences[0])  # warm-up
ms, audio_s = [], 0.0
for ids in sentences:
    t = time.perf_counter()
    samples = run(ids)
    ms.append((time.perf_counter() - t) * 1e3)
    audio_s += samples / 22050
s = sorted(ms)
json.dump({
    "p50_ms": s[round((len(s) - 1) * 0.5)],
    "p95_ms": s[round((len(s) - 1) * 0.95)],
    "rtf": sum(ms) / 1e3 / audio_s,
    "sentences": len(ms),
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}, sys.stdout)
