"""Token ids of sentences under a GGUF file's own vocabulary, as `transformers` reads it
(its GGUF tokenizer conversion), for the LLM backend's tokenizer test.

Usage: python3 gguf_tokenizer_reference.py MODEL_DIR GGUF_FILE SENTENCES.json  (prints JSON)
"""
import json
import sys

from transformers import AutoTokenizer

model_dir, gguf_file, sentences_file = sys.argv[1:4]
tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_file)
sentences = json.load(open(sentences_file, encoding="utf-8"))
ids = [tokenizer(s, add_special_tokens=False)["input_ids"] for s in sentences]
json.dump({"ids": ids, "decoded": [tokenizer.decode(i) for i in ids]}, sys.stdout, ensure_ascii=False)
