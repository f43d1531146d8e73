#!/usr/bin/env bash
# Regenerate the reference reports in reports/ with rlaif-audit's own commands (what each shows: reports/README.md).
# Usage: bash scripts/make_reference_reports.sh [--fresh] [NAME ...]
#   NAME     synthetic-biases, fastchat-mt-bench, alpaca-eval, smollm2-hh (default: all four)
#   --fresh  relabel smollm2-hh even when reports/smollm2-hh/judgments.jsonl exists (2-3 minutes of CPU);
#            without it the committed judgments are reused (`label` resumes: nothing is judged twice)
# Runs .venv/bin/rlaif-audit, or "$PYTHON -m rlaif_audit.cli" when PYTHON is set or there is no .venv.
# Needs the test extra (pytest): the synthetic pairs come from rlaif_audit.testing. smollm2-hh needs the shared
# HH-RLHF data in ../shared and is skipped, with a message, without it.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(synthetic-biases fastchat-mt-bench alpaca-eval smollm2-hh)
EXTERNAL=tests/data/external
HH=../shared/data/hh-rlhf-harmless/test.jsonl.gz
FRESH=0
NAMES=()
for arg in "$@"; do
  case "$arg" in
    --fresh) FRESH=1 ;;
    synthetic-biases|fastchat-mt-bench|alpaca-eval|smollm2-hh) NAMES+=("$arg") ;;
    *) echo "unknown argument '$arg'; valid: --fresh ${ALL[*]}" >&2; exit 2 ;;
  esac
done
[ ${#NAMES[@]} -gt 0 ] || NAMES=("${ALL[@]}")

if [ -n "${PYTHON:-}" ] || [ ! -x .venv/bin/rlaif-audit ]; then
  PY=${PYTHON:-python3}
  RLAIF=("$PY" -m rlaif_audit.cli)
else
  PY=.venv/bin/python
  RLAIF=(.venv/bin/rlaif-audit)
fi

# Remove what an earlier audit wrote in a report folder (formats change); the inputs stay.
clean() {
  mkdir -p "$1"
  find "$1" -maxdepth 1 -type f ! -name judgments.jsonl ! -name pairs.jsonl -delete
  rm -rf "$1/figures"
}

# Audit into reports/NAME (all registered report formats, default bootstrap) and list what is there.
audit() {
  local name=$1
  shift
  clean "reports/$name"
  "${RLAIF[@]}" audit "$@" -o "reports/$name"
  echo "wrote reports/$name:"
  find "reports/$name" -type f | sort | while read -r file; do
    printf '  %9d bytes  %s\n' "$(wc -c <"$file")" "$file"
  done
  echo
}

synthetic_biases() {
  local out=reports/synthetic-biases
  mkdir -p "$out"
  # Seed 2 of the pairs: with seed 0, lists_excess (no list bias injected) happens to be flagged, the 1-in-20 false
  # alarm that a 95% CI allows; a reference report should show the injected biases only.
  local make_pairs='import sys, rlaif_audit.testing as t; t.write_synthetic_pairs(sys.argv[1], 1000, seed=2)'
  "$PY" -c "$make_pairs" "$out/pairs.jsonl"
  rm -f "$out/judgments.jsonl"
  "${RLAIF[@]}" label "$out/pairs.jsonl" -e synthetic -O position_bias=0.6 -O length_pref=0.5 -O temperature=0.5 \
    -O noise=0.3 -o "$out/judgments.jsonl" -q
  audit synthetic-biases "$out/judgments.jsonl" --data "$out/pairs.jsonl" \
    --title "Reference: a synthetic judge with injected first-slot, length and over-confidence biases"
}

fastchat_mt_bench() {
  audit fastchat-mt-bench "$EXTERNAL/mt_bench/model_judgment/gpt-4_pair.jsonl" \
    --human "$EXTERNAL/mt_bench_human_judgments.json" \
    --title "Reference: FastChat MT-Bench GPT-4 pairwise judgments against MT-Bench human judgments"
}

alpaca_eval() {
  audit alpaca-eval "$EXTERNAL/alpaca_eval_annotations.json" --human "$EXTERNAL/alpaca_eval_human.json" \
    --title "Reference: AlpacaEval annotations against AlpacaEval human annotations"
}

smollm2_hh() {
  if [ ! -f "$HH" ]; then
    echo "skipped smollm2-hh: $HH not found (the shared HH-RLHF data lives beside the repository)"
    echo
    return
  fi
  local out=reports/smollm2-hh
  mkdir -p "$out"
  [ "$FRESH" = 0 ] || rm -f "$out/judgments.jsonl"
  if ! "${RLAIF[@]}" label "$HH" --evaluator hf-judge --limit 200 -o "$out/judgments.jsonl" -q; then
    echo "labeling for smollm2-hh failed; if $out/judgments.jsonl is of another evaluator identity (code or" \
      "library versions changed), rerun with --fresh smollm2-hh to relabel (2-3 minutes)" >&2
    exit 1
  fi
  audit smollm2-hh "$out/judgments.jsonl" --data "$HH" \
    --title "Reference: SmolLM2-135M-Instruct (hf-judge) on 200 HH-RLHF harmless-base pairs"
}

for name in "${NAMES[@]}"; do
  echo "== $name"
  "${name//-/_}"
done
