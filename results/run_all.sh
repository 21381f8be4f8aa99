#!/usr/bin/env bash
# Results driver: run SensitiveMamba, SensitiveHUE (attention), PCA, maxz and random on each dataset with
# the CPU protocol overlay, resumably, then rebuild the results tables.
#
#   bash results/run_all.sh                      # MSL, SMD (every machine present), SMAP, SWaT
#   DATASETS="MSL" SEEDS="2025 1 2" bash results/run_all.sh
#   DATASETS=SWaT DETECTORS= ABLATIONS="revin_stored revin_none no_contrastive no_uncertainty score_test" bash results/run_all.sh
#     ablations of SensitiveMamba: revin_stored / revin_none (--set revin_denorm=...), no_contrastive,
#     no_uncertainty, and score_test / score_max / score_topk / score_mean: the seed's trained models re-scored
#     (--test, no training) with score_norm=test or score_combine=max|topk|mean
#   RESCORE_FROM=../wt/runs/cpu PROTOCOL=cpu-rescored DATASETS=SMD bash results/run_all.sh
#     the same table without training: every run copied from RESCORE_FROM and re-scored by this commit (--test)
#   PROTOCOL=paper OVERLAY= bash results/run_all.sh   # the paper protocol (stride 1, 25 epochs): GPU
#   PROTOCOL=cpu-smd-all SMD_ENTITIES=all DATASETS=SMD WORKERS=2 bash results/run_all.sh   # every SMD machine present, 2 Ray jobs
#
# Layout (one folder per run, so runs never overwrite each other):
#   runs/<protocol>/<detector>[-<ablation>]/seed<k>/<dataset>/results.json
# A run whose results.json exists is skipped (delete it, or use another PROTOCOL, to redo it or to
# change its entity selection); an interrupted run restarts with --resume and keeps finished entities.
# Wall times go to runs/<protocol>/timings.tsv. Run outputs are never committed (runs/ is git-ignored): each
# finished run's results.json (metrics and settings, no arrays) is copied to $RECORDS/<protocol>/... (default
# results/runs/, committed), so a table rebuilds from the repository alone (`--runs results/runs/cpu`) and runs
# of one commit made in several sessions or on several machines add up to one table.
# Runs from the repository root (`$PY main.py`, `$PY -m sensitive_hue.report`), so it works with or without
# `pip install -e .`; PY=.venv/bin/python picks the project's environment.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-python}
PROTOCOL=${PROTOCOL:-cpu}
OVERLAY=${OVERLAY-config/cpu_protocol.yaml}
RAW_DIR=${RAW_DIR:-../shared/datasets}
DATASETS=${DATASETS:-"MSL SMD SMAP SWaT"}
SEEDS=${SEEDS:-2025}
DETECTORS=${DETECTORS-"pca maxz random sensitive_mamba sensitive_hue"}
ABLATIONS=${ABLATIONS:-}              # e.g. "revin_stored no_contrastive" (see the header)
ABLATED=${ABLATED:-sensitive_mamba}   # the detectors ABLATIONS apply to (the score_* ones suit any detector, e.g. "sensitive_mamba pca")
RESCORE_FROM=${RESCORE_FROM:-}        # a runs/<protocol> folder: copy its trained runs and re-score them here (--test), no training
THREADS=${THREADS:-1}                 # torch CPU threads per run (2 threads on a busy 2-core machine: 10-50x slower)
NICE=${NICE:-10}
SMD_ENTITIES=${SMD_ENTITIES:-all}     # "all": every machine present; or e.g. TranAD's "machine-1-1 machine-2-1 machine-3-2 machine-3-7"
RECORDS=${RECORDS-results/runs}       # where each finished run's results.json is copied ("": nowhere)
REPORT=${REPORT:-1}                   # 0: no table rebuild at the end (runs of a worktree stay clean: the tables are tracked)
WORKERS=${WORKERS:-1}                 # >1: that many Ray jobs (one entity each, THREADS threads each); pip install -r requirements-distributed.txt
ROOT=runs/$PROTOCOL
mkdir -p "$ROOT"

present_smd() {  # TranAD's machines that exist in the raw data (1-1 and 3-7 are missing here), or all present
  local out=() m wanted=$SMD_ENTITIES
  if [ "$wanted" = all ]; then
    wanted=$(ls "$RAW_DIR/SMD/train/" | sed -e 's/\.gz$//' -e 's/\.txt$//' | sort -V)
  fi
  for m in $wanted; do
    if ls "$RAW_DIR/SMD/train/$m.txt"* >/dev/null 2>&1; then out+=("$m"); else echo "SMD: $m not in $RAW_DIR, skipped" >&2; fi
  done
  echo "${out[@]}"
}

copy_trained() {  # source target: a copy of a trained run folder to re-score with --test (once)
  [ -f "$1/results.json" ] || { echo "skip $2: train $1 first" >&2; return 1; }
  if [ ! -f "$2/results.json" ]; then
    mkdir -p "$(dirname "$2")"; rm -rf "$2"; cp -r "$1" "$2"; rm -f "$2/results.json"
  fi
}

record() {  # run folder, its path under runs/<protocol>: keep a copy of its results.json under $RECORDS
  [ -n "$RECORDS" ] && [ -f "$1/results.json" ] || return 0
  local to="$RECORDS/$PROTOCOL/${2//:/-}"  # pyod:IForest -> pyod-IForest: no ':' in committed paths (Windows clones)
  mkdir -p "$to" && cp "$1/results.json" "$to/results.json"
}

run_one() {  # dataset detector ablation seed
  local data=$1 model=$2 ablation=$3 seed=$4 name=$2 flags=() trained=""
  if [ -n "$ablation" ]; then
    name="$model-$ablation"
    case $ablation in
      revin_stored|revin_none) flags+=(--set "revin_denorm=${ablation#revin_}") ;;
      score_test) trained="$ROOT/$model/seed$seed/$data"; flags+=(--set score_norm=test) ;;  # test-fitted median/IQR
      score_max|score_topk|score_mean) trained="$ROOT/$model/seed$seed/$data"; flags+=(--set "score_combine=${ablation#score_}") ;;
      no_contrastive) [ -n "$RESCORE_FROM" ] || flags+=(--no_contrastive) ;;  # a training setting only
      *) flags+=("--$ablation") ;;
    esac
  fi
  local out="$ROOT/$name/seed$seed"
  if [ -f "$out/$data/results.json" ]; then
    echo "skip $out/$data (results.json exists)"; record "$out/$data" "$name/seed$seed/$data"; return
  fi
  [ -n "$RESCORE_FROM" ] && [ -z "$trained" ] && trained="$RESCORE_FROM/$name/seed$seed/$data"
  if [ -n "$trained" ]; then  # no training: a copy of trained models, re-scored by this commit's code
    copy_trained "$trained" "$out/$data" || return 0
    flags+=(--test)
  fi
  [ -n "$OVERLAY" ] && flags+=(--overlay "$OVERLAY")
  [ "$WORKERS" -gt 1 ] && flags+=(--workers "$WORKERS" --cpus_per_job 1)
  [ "$data" = SMD ] && flags+=(--entities $(present_smd))
  [ -n "${ENTITIES:-}" ] && flags+=(--entities $ENTITIES)
  echo "run  $out/$data"
  local tic=$SECONDS
  local training=(--seed "$seed" --resume)  # --test re-scores saved models: their seed is in the checkpoint
  [ -n "$trained" ] && training=()
  nice -n "$NICE" "$PY" main.py --config_path config/star.yaml --data_name "$data" --model "$model" "${training[@]}" \
    --raw_dir "$RAW_DIR" --out_dir "$out" --num_threads "$THREADS" --no_plots "${flags[@]}"
  printf '%s\t%s\t%s\t%s\t%d\n' "$data" "$name" "$seed" "$(date -u +%FT%TZ)" $((SECONDS - tic)) >> "$ROOT/timings.tsv"
  record "$out/$data" "$name/seed$seed/$data"
}

for data in $DATASETS; do
  for seed in $SEEDS; do
    for model in $DETECTORS; do run_one "$data" "$model" "" "$seed"; done
    for model in $ABLATED; do
      for ablation in $ABLATIONS; do run_one "$data" "$model" "$ablation" "$seed"; done
    done
  done
  if [ "$PROTOCOL" = cpu ] && [ "$REPORT" = 1 ]; then
    notes=() tables_from=$ROOT
    [ -n "$RECORDS" ] && tables_from=$RECORDS/$PROTOCOL  # the committed copies, so the table's rebuild command works anywhere
    "$PY" -m sensitive_hue.report --data_name "$data" --runs "$tables_from" --out "results/$data.md" "${notes[@]}" \
      || echo "report for $data failed (see above); runs are kept" >&2
  fi
done
