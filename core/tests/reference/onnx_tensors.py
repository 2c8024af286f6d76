"""Lists the weights of an ONNX model with the `onnx` package: an independent reading for
core/tests/onnx_weights.rs. Prints JSON {onnx_name: {"dtype", "shape", "sha256"}} over each
tensor's little-endian row-major bytes: graph and subgraph initializers, and Constant nodes'
tensors named by their output.

Usage: python3 onnx_tensors.py MODEL.onnx    (needs `pip install onnx numpy`)
"""
import hashlib
import json
import sys

import onnx
from onnx import numpy_helper

DTYPES = {1: "F32", 2: "U8", 3: "I8", 4: "U16", 5: "I16", 6: "I32", 7: "I64", 9: "BOOL",
          10: "F16", 11: "F64", 12: "U32", 13: "U64", 16: "BF16"}


def record(out, name, tensor):
    array = numpy_helper.to_array(tensor)
    out[name] = {"dtype": DTYPES[tensor.data_type], "shape": list(array.shape),
                 "sha256": hashlib.sha256(array.astype(array.dtype.newbyteorder("<")).tobytes()).hexdigest()}


def walk(graph, out):
    for tensor in graph.initializer:
        record(out, tensor.name, tensor)
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.TENSOR:
                    record(out, node.output[0], attribute.t)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                walk(attribute.g, out)
            for sub in attribute.graphs:
                walk(sub, out)


out = {}
walk(onnx.load(sys.argv[1]).graph, out)
json.dump(out, sys.stdout, indent=1, sort_keys=True)
