"""A RANDOMLY INITIALISED Gemma 3 text model built by `transformers`, written as a GGUF file the
way llama.cpp's converter writes Gemma 3, and what `transformers` computes with it, for the LLM
backend's Gemma 3 test. The shape is scaled down (6 layers, width 64) but keeps every part of the
architecture: five local layers with a sliding window of 4 and rotary base 10,000, then a global
one with base 1,000,000; normalised queries and keys; norms before and after attention and the
feed-forward; GELU (tanh); the embedding scaled by the square root of the width. The weights are
random (the real model's are quantized, so it cannot be compared this closely): the test shows
that the file is read and run as `transformers` runs the model, not that anything is translated.

Usage: python3 gemma3_gguf_reference.py VOCAB_GGUF OUT_DIR PROMPTS.json  (prints JSON)
VOCAB_GGUF is a real Gemma 3 GGUF (its vocabulary is copied); PROMPTS.json a list of token id
lists. Writes OUT_DIR/tiny-gemma3.gguf (F32). Prints, per prompt, the next-token logits after it
and the greedy continuation of 12 tokens (`generate`, with its key/value cache).
"""
import json
import os
import sys

import gguf
import numpy as np
import torch
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

vocab_file, out_dir, prompts_file = sys.argv[1:4]
os.makedirs(out_dir, exist_ok=True)
path = os.path.join(out_dir, "tiny-gemma3.gguf")

vocab = gguf.GGUFReader(vocab_file)
field = lambda key: vocab.fields[key].contents()
tokens = field("tokenizer.ggml.tokens")
hidden, layers, heads, kv_heads, head_dim, ffn, window = 64, 6, 4, 2, 32, 128, 4
local_base, global_base, eps = 10_000.0, 1_000_000.0, 1e-6
layer_types = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)]

config = Gemma3TextConfig(
    vocab_size=len(tokens),
    hidden_size=hidden,
    intermediate_size=ffn,
    num_hidden_layers=layers,
    num_attention_heads=heads,
    num_key_value_heads=kv_heads,
    head_dim=head_dim,
    query_pre_attn_scalar=head_dim,
    sliding_window=window,
    layer_types=layer_types,
    max_position_embeddings=512,
    rms_norm_eps=eps,
    hidden_activation="gelu_pytorch_tanh",
    rope_parameters={
        "full_attention": {"rope_type": "default", "rope_theta": global_base},
        "sliding_attention": {"rope_type": "default", "rope_theta": local_base},
    },
    final_logit_softcapping=None,
    attn_logit_softcapping=None,
    # A separate output layer: tied to the random embedding, greedy decoding only repeats the
    # last token. (The real Gemma 3 test runs the tied layout.)
    tie_word_embeddings=False,
    bos_token_id=field("tokenizer.ggml.bos_token_id"),
    eos_token_id=field("tokenizer.ggml.eos_token_id"),
    pad_token_id=0,
)
torch.manual_seed(0)
model = Gemma3ForCausalLM(config).eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        # Norm weights start at zero (Gemma multiplies by 1 + w): make every one matter.
        p.copy_(torch.randn_like(p) * (0.3 if "norm" in name else 0.2))

f32 = lambda t: t.detach().numpy().astype(np.float32)
# llama.cpp stores Gemma's norm weights with the 1 added.
norm = lambda t: f32(t) + 1

writer = gguf.GGUFWriter(path, "gemma3")
writer.add_block_count(layers)
writer.add_context_length(512)
writer.add_embedding_length(hidden)
writer.add_feed_forward_length(ffn)
writer.add_head_count(heads)
writer.add_head_count_kv(kv_heads)
writer.add_key_length(head_dim)
writer.add_value_length(head_dim)
writer.add_rope_freq_base(global_base)
writer.add_layer_norm_rms_eps(eps)
writer.add_sliding_window(window)
for key in [
    "tokenizer.ggml.model",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.scores",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_eos_token",
]:
    if key not in vocab.fields:
        continue
    value, kind = field(key), vocab.fields[key].types
    if kind[0] == gguf.GGUFValueType.ARRAY:
        writer.add_array(key, value)
    elif kind[0] == gguf.GGUFValueType.STRING:
        writer.add_string(key, value)
    elif kind[0] == gguf.GGUFValueType.BOOL:
        writer.add_bool(key, value)
    else:
        writer.add_uint32(key, value)

m = model.model
writer.add_tensor("token_embd.weight", f32(m.embed_tokens.weight))
for i, layer in enumerate(m.layers):
    p, a, mlp = f"blk.{i}", layer.self_attn, layer.mlp
    writer.add_tensor(f"{p}.attn_norm.weight", norm(layer.input_layernorm.weight))
    writer.add_tensor(f"{p}.attn_q.weight", f32(a.q_proj.weight))
    writer.add_tensor(f"{p}.attn_k.weight", f32(a.k_proj.weight))
    writer.add_tensor(f"{p}.attn_v.weight", f32(a.v_proj.weight))
    writer.add_tensor(f"{p}.attn_output.weight", f32(a.o_proj.weight))
    writer.add_tensor(f"{p}.attn_q_norm.weight", norm(a.q_norm.weight))
    writer.add_tensor(f"{p}.attn_k_norm.weight", norm(a.k_norm.weight))
    writer.add_tensor(f"{p}.post_attention_norm.weight", norm(layer.post_attention_layernorm.weight))
    writer.add_tensor(f"{p}.ffn_norm.weight", norm(layer.pre_feedforward_layernorm.weight))
    writer.add_tensor(f"{p}.ffn_gate.weight", f32(mlp.gate_proj.weight))
    writer.add_tensor(f"{p}.ffn_up.weight", f32(mlp.up_proj.weight))
    writer.add_tensor(f"{p}.ffn_down.weight", f32(mlp.down_proj.weight))
    writer.add_tensor(f"{p}.post_ffw_norm.weight", norm(layer.post_feedforward_layernorm.weight))
writer.add_tensor("output_norm.weight", norm(m.norm.weight))
writer.add_tensor("output.weight", f32(model.lm_head.weight))
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()

result = {"logits": [], "greedy": []}
for ids in json.load(open(prompts_file, encoding="utf-8")):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
        out = model.generate(
            torch.tensor([ids]), max_new_tokens=12, do_sample=False, eos_token_id=None
        )[0, len(ids):]
    result["logits"].append(logits.tolist())
    result["greedy"].append(out.tolist())
json.dump(result, sys.stdout)
