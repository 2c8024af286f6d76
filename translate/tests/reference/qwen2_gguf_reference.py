"""A RANDOMLY INITIALISED Qwen2 model with the real Qwen2 vocabulary, written as a GGUF file,
and the next-token logits `transformers` computes from that file, for the LLM backend's Qwen2
test. The weights are random (no Qwen2 weights are reachable here): the test shows that the
file is read and run the way `transformers` reads and runs it, not that any translation is good.

Usage: python3 qwen2_gguf_reference.py VOCAB_GGUF OUT_DIR PROMPTS.json  (prints JSON)
Writes OUT_DIR/tiny-qwen2.gguf: 2 layers, width 64, 4 query and 2 key/value heads, F32.
"""
import json
import os
import sys

import gguf
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

vocab_file, out_dir, prompts_file = sys.argv[1:4]
os.makedirs(out_dir, exist_ok=True)
path = os.path.join(out_dir, "tiny-qwen2.gguf")

vocab = gguf.GGUFReader(vocab_file)
field = lambda key: vocab.fields[key].contents()
tokens = field("tokenizer.ggml.tokens")
hidden, layers, heads, kv_heads, ffn = 64, 2, 4, 2, 128
head_dim = hidden // heads
rng = np.random.default_rng(0)
rand = lambda *shape: (rng.standard_normal(shape) * 0.2).astype(np.float32)

writer = gguf.GGUFWriter(path, "qwen2")
writer.add_block_count(layers)
writer.add_context_length(512)
writer.add_embedding_length(hidden)
writer.add_feed_forward_length(ffn)
writer.add_head_count(heads)
writer.add_head_count_kv(kv_heads)
writer.add_rope_freq_base(1_000_000.0)
writer.add_layer_norm_rms_eps(1e-6)
writer.add_tokenizer_model("gpt2")
writer.add_tokenizer_pre(field("tokenizer.ggml.pre"))
writer.add_token_list(tokens)
writer.add_token_types(field("tokenizer.ggml.token_type"))
writer.add_token_merges(field("tokenizer.ggml.merges"))
writer.add_bos_token_id(field("tokenizer.ggml.bos_token_id"))
writer.add_eos_token_id(field("tokenizer.ggml.eos_token_id"))
writer.add_chat_template(field("tokenizer.chat_template"))
writer.add_tensor("token_embd.weight", rand(len(tokens), hidden))
for i in range(layers):
    p = f"blk.{i}"
    writer.add_tensor(f"{p}.attn_norm.weight", 1 + rand(hidden))
    writer.add_tensor(f"{p}.attn_q.weight", rand(hidden, hidden))
    writer.add_tensor(f"{p}.attn_q.bias", rand(hidden))
    writer.add_tensor(f"{p}.attn_k.weight", rand(kv_heads * head_dim, hidden))
    writer.add_tensor(f"{p}.attn_k.bias", rand(kv_heads * head_dim))
    writer.add_tensor(f"{p}.attn_v.weight", rand(kv_heads * head_dim, hidden))
    writer.add_tensor(f"{p}.attn_v.bias", rand(kv_heads * head_dim))
    writer.add_tensor(f"{p}.attn_output.weight", rand(hidden, hidden))
    writer.add_tensor(f"{p}.ffn_norm.weight", 1 + rand(hidden))
    writer.add_tensor(f"{p}.ffn_gate.weight", rand(ffn, hidden))
    writer.add_tensor(f"{p}.ffn_up.weight", rand(ffn, hidden))
    writer.add_tensor(f"{p}.ffn_down.weight", rand(hidden, ffn))
writer.add_tensor("output_norm.weight", 1 + rand(hidden))
writer.add_tensor("output.weight", rand(len(tokens), hidden))
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()

tokenizer = AutoTokenizer.from_pretrained(out_dir, gguf_file="tiny-qwen2.gguf")
model = AutoModelForCausalLM.from_pretrained(out_dir, gguf_file="tiny-qwen2.gguf", dtype=torch.float32)
model.eval()
result = {"ids": [], "logits": []}
for prompt in json.load(open(prompts_file, encoding="utf-8")):
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    result["ids"].append(ids)
    result["logits"].append(logits.tolist())
json.dump(result, sys.stdout)
