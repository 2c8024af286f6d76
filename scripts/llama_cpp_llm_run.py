"""Times llama.cpp (llama-cpp-python) on the prompts `bench_llm run` wrote (scripts/bench_llm.sh
runs it): each prompt's exact token ids, then greedy decoding of as many tokens as dragoman
generated for it, one sentence at a time, 2 threads. Prints JSON: timings, peak memory and the
greedy tokens (to compare answers).

Usage: python3 llama_cpp_llm_run.py GGUF INPUTS.json
"""
import json
import resource
import sys
import time

from llama_cpp import Llama

gguf, inputs_file = sys.argv[1], sys.argv[2]
llm = Llama(model_path=gguf, n_ctx=1024, n_threads=2, n_threads_batch=2, n_batch=512, verbose=False)
inputs = json.load(open(inputs_file, encoding="utf-8"))


def run(ids, new_tokens):
    llm.reset()
    out = []
    if new_tokens == 0:
        llm.eval(ids)
        return out
    for token in llm.generate(ids, top_k=1, temp=0.0, reset=True):
        out.append(token)
        # One more than dragoman kept: its last decoding step chose the token that stopped it.
        if len(out) == new_tokens + 1:
            break
    return out


run(inputs[0]["ids"], 8)  # warm-up
ms, prefill, tokens, outputs = [], [], 0, []
for item in inputs:
    llm.reset()
    t = time.perf_counter()
    llm.eval(item["ids"])
    prefill.append((time.perf_counter() - t) * 1e3)
    t = time.perf_counter()
    outputs.append(run(item["ids"], item["new_tokens"])[: item["new_tokens"]])
    ms.append((time.perf_counter() - t) * 1e3)
    tokens += len(item["ids"]) + item["new_tokens"]
s = sorted(ms)
json.dump({
    "p50_ms": s[round((len(s) - 1) * 0.5)],
    "p95_ms": s[round((len(s) - 1) * 0.95)],
    "per_s": 1e3 * len(ms) / sum(ms),
    "tokens_per_s": 1e3 * tokens / sum(ms),
    "prefill_ms": sum(prefill) / len(prefill),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "outputs": outputs,
}, sys.stdout)
