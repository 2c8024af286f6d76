"""Times CTranslate2 on the inputs `bench_mt prepare` wrote (scripts/bench_mt.sh runs it):
greedy, batch 1 (latency per sentence) and batch 8 (throughput), 2 threads, decoding a fixed
number of tokens (the model's EOS is disabled). Prints JSON.

Usage: python3 ct2_mt_run.py CT2_DIR FAMILY INPUTS.json MAX_DECODING_LENGTH
"""
import json
import sys
import time

import ctranslate2

ct2_dir, family, inputs_file, length = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
translator = ctranslate2.Translator(ct2_dir, device="cpu", inter_threads=1, intra_threads=2)
inputs = json.load(open(inputs_file, encoding="utf-8"))
if family == "marian":
    sources = [p + ["</s>"] for p in inputs]
    prefix = None
else:
    sources = [["__en__"] + p + ["</s>"] for p in inputs]
    prefix = [["__es__"]] * len(sources)


def run(start, end):
    return translator.translate_batch(
        sources[start:end], target_prefix=prefix[start:end] if prefix else None, beam_size=1,
        max_decoding_length=length, max_batch_size=8)


run(0, 1)  # warm-up
latencies = []
for i in range(len(sources)):
    t = time.perf_counter()
    result = run(i, i + 1)
    latencies.append((time.perf_counter() - t) * 1e3)
generated = len(result[0].hypotheses[0])
t = time.perf_counter()
for i in range(0, len(sources), 8):
    run(i, i + 8)
batch8 = len(sources) / (time.perf_counter() - t)
latencies.sort()
json.dump({
    "p50_ms": latencies[round((len(latencies) - 1) * 0.5)],
    "p95_ms": latencies[round((len(latencies) - 1) * 0.95)],
    "batch1_per_s": 1e3 * len(latencies) / sum(latencies),
    "batch8_per_s": batch8,
    "new_tokens": generated,
}, sys.stdout)
