"""Runs a Piper voice's ONNX model with onnxruntime on the given phoneme ids and scales and
prints the audio as JSON, for the VITS faithfulness test.

Usage: python3 piper_reference.py VOICE.onnx IDS.json NOISE_SCALE LENGTH_SCALE NOISE_W
"""
import json
import sys

import numpy as np
import onnxruntime

model, ids_file = sys.argv[1], sys.argv[2]
scales = np.array([float(v) for v in sys.argv[3:6]], dtype=np.float32)
ids = json.load(open(ids_file))
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 2
session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
audio = session.run(None, {
    "input": np.array([ids], dtype=np.int64),
    "input_lengths": np.array([len(ids)], dtype=np.int64),
    "scales": scales,
})[0]
json.dump({"audio": audio.reshape(-1).tolist()}, sys.stdout)
