"""Builds a RANDOM-WEIGHT MMS-TTS model (transformers' VitsModel with the architecture of
facebook/mms-tts-*: VitsConfig's defaults, which are that config) and runs it, for the MMS
faithfulness test. The weights are random, so the audio is noise: the test compares numbers,
not speech.

Writes to OUT_DIR:
  model/           save_pretrained output (model.safetensors, config.json) plus vocab.json and
                   tokenizer_config.json, as an MMS repository has them
  pytorch_model.bin  the same weights as the Hub's checkpoints store them (weight norm as
                   weight_g / weight_v)
  reference.json   for each sentence: the tokenizer's ids, the standard normal noise
                   transformers drew (duration noise, then prior noise) and the waveform

Usage: python mms_reference.py OUT_DIR SENTENCE...
"""
import json
import os
import sys

import torch
from transformers import VitsConfig, VitsModel, VitsTokenizer

out_dir, sentences = sys.argv[1], sys.argv[2:]
model_dir = os.path.join(out_dir, "model")
os.makedirs(model_dir, exist_ok=True)
torch.manual_seed(1234)

# A character vocabulary like MMS's: the blank at id 0, space and apostrophe, lowercase letters
# of the languages the sentences are in. Digits and punctuation are absent, as they are from
# most MMS vocabularies, so the tokenizer's filtering is exercised.
letters = "abcdefghijklmnopqrstuvwxyzàáâãèéêìíòóôõùúýăđĩũơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹäöüßñç"
symbols = ["_", " ", "'", "-"] + list(letters)
vocab = {s: i for i, s in enumerate(symbols)}
with open(os.path.join(model_dir, "vocab.json"), "w", encoding="utf-8") as f:
    json.dump(vocab, f, ensure_ascii=False)
with open(os.path.join(model_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
    json.dump({"add_blank": True, "normalize": True, "phonemize": False, "is_uroman": False,
               "language": "vie", "pad_token": "_", "unk_token": "_",
               "tokenizer_class": "VitsTokenizer"}, f)
tokenizer = VitsTokenizer.from_pretrained(model_dir)

config = VitsConfig(vocab_size=len(vocab))
model = VitsModel(config).eval()
# Every parameter gets noise on top of its initialisation, so that no part of the model (the
# zero-initialised affine flow, for one) is an identity the comparison could not see.
with torch.no_grad():
    for name, p in model.named_parameters():
        p.add_(torch.randn_like(p) * 0.02)
    # Random HiFi-GAN weights drive tanh into saturation, where differences would not show:
    # scale the last convolution until the typical sample is well inside (-1, 1).
    probe = tokenizer(sentences[0], return_tensors="pt").input_ids
    while model(input_ids=probe).waveform.abs().median() > 0.3:
        model.decoder.conv_post.weight.mul_(0.1)
model.save_pretrained(model_dir)

# The Hub's checkpoints predate torch's parametrized weight norm: rename to weight_g/weight_v.
state = {}
for name, tensor in model.state_dict().items():
    name = name.replace(".parametrizations.weight.original0", ".weight_g")
    name = name.replace(".parametrizations.weight.original1", ".weight_v")
    state[name] = tensor.clone()
torch.save(state, os.path.join(out_dir, "pytorch_model.bin"))

# Record the noise transformers draws, in order: torch.randn for the duration predictor, then
# torch.randn_like for the prior.
drawn = []
randn, randn_like = torch.randn, torch.randn_like


def recording_randn(*args, **kwargs):
    t = randn(*args, **kwargs)
    drawn.append(t)
    return t


def recording_randn_like(*args, **kwargs):
    t = randn_like(*args, **kwargs)
    drawn.append(t)
    return t


results = []
torch.randn, torch.randn_like = recording_randn, recording_randn_like
try:
    for sentence in sentences:
        drawn.clear()
        ids = tokenizer(sentence, return_tensors="pt").input_ids
        with torch.no_grad():
            waveform = model(input_ids=ids).waveform[0]
        duration_noise, prior_noise = drawn
        results.append({
            "sentence": sentence,
            "ids": ids[0].tolist(),
            "duration_noise": duration_noise.reshape(-1).tolist(),
            "prior_noise": prior_noise.reshape(-1).tolist(),
            "waveform": waveform.tolist(),
        })
finally:
    torch.randn, torch.randn_like = randn, randn_like

with open(os.path.join(out_dir, "reference.json"), "w") as f:
    json.dump({"noise_scale": config.noise_scale,
               "noise_scale_duration": config.noise_scale_duration,
               "sentences": results}, f)
