#!/usr/bin/env bash
# Every benchmark of bench/README.md on one GPU, in one go (about 12 minutes on an H100).
#   bash bench/run_gpu.sh [DATA_DIR]        DATA_DIR: the shared data folder (paintings/, photos/)
# Figures land in bench/out/*.json; this log ends with a one-line summary of each.
# PARTS="stylize train_vgg19" runs some of: smoke stylize train_alexnet train_vgg19 feature_cache batch cli.
# QUICK=1 DEVICE=cpu runs the same steps at toy sizes (checks the script, not the GPU).
set -u
DATA=${1:-../shared/data}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
export PYTHONUNBUFFERED=1
if [ "${QUICK:-0}" = 1 ]; then
  BIG=96; SMALL=64; A_STEPS=10; B_STEPS=20; IMAGES=40; SIDE=256; CROP=64; STEPS=5
else
  BIG=512; SMALL=256; A_STEPS=500; B_STEPS=500; IMAGES=960; SIDE=1024; CROP=224; STEPS=300
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

run() {  # one benchmark; a failure is logged and the others still run
  echo "== $*"
  timeout "${LIMIT:-150}" "$@" || echo "FAILED (exit $?): $*"
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null
$PY -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__,
'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"

stylize() {  # time to baseline A's 500-step loss, fp32 and bf16, at both sizes
  for size in $BIG $SMALL; do
    sb=(bench/stylize_bench.py --device "$DEVICE" --data-dir "$DATA" --size "$size"
        --baseline-steps "$A_STEPS" --max-steps "$B_STEPS")
    run $PY "${sb[@]}"
    run $PY "${sb[@]}" --reuse-baselines --precision bf16-mixed
    run $PY "${sb[@]}" --reuse-baselines --lbfgs-history 10
  done
}

batch() {  # throughput of batches of 4 and 8 vs. one image at a time, with peak GPU memory
  for batch in 4 8; do
    run $PY bench/stylize_bench.py --device "$DEVICE" --data-dir "$DATA" --size "$BIG" --batch "$batch" \
      --max-steps 100
  done
}

cli() {  # seconds per stylization with the shipped defaults (300 L-BFGS steps at 512 px)
  starry="$DATA/paintings/vincent-van-gogh_the-starry-night-1889.jpg"
  for precision in 32-true bf16-mixed; do
    echo "== stylize.py size=$BIG precision=$precision"
    start=$(date +%s%N)
    timeout 300 $PY stylize.py content="$DATA/photos/photo-00.jpg" style="$starry" backbone=vgg19 \
      backbone.pretrained=false size="$BIG" steps="$STEPS" device="$DEVICE" precision="$precision" \
      progress_bar=false hydra.run.dir="$WORK/stylize-$precision" || echo "FAILED: stylize.py $precision"
    echo "stylize.py $precision: $(( ($(date +%s%N) - start) / 1000000 )) ms wall, process start-up included;" \
      "optimisation: $(grep -ho '"seconds": [0-9.]*' "$WORK/stylize-$precision"/*.json)"
  done
}

train() {  # fine-tuning images/s of one backbone: report-style loop vs. the product and its GPU paths
  tb=(bench/train_bench.py --device "$DEVICE" --backbone "$1" --images "$IMAGES" --side "$SIDE"
      --size "$CROP" --epochs 2 --dataset-dir "$WORK/paintings")
  run $PY "${tb[@]}" --workers 2
  run $PY "${tb[@]}" --reuse-baseline
  run $PY "${tb[@]}" --reuse-baseline --precision bf16-mixed --channels-last
  run $PY "${tb[@]}" --reuse-baseline --precision bf16-mixed --channels-last --compile
}

feature_cache() {  # data.feature_cache off / cold / warm, both backbones, the trainer's GPU precision
  precision=$([ "$DEVICE" = cuda ] && echo bf16-mixed || echo 32-true)
  LIMIT=450 run $PY bench/feature_cache_bench.py --device "$DEVICE" --precision "$precision" --images "$IMAGES" \
    --side "$SIDE" --size "$CROP" --folds 3
}

smoke() {  # the real entry point: one fold of generated data with trainer=gpu (bf16-mixed)
  accel=$([ "$DEVICE" = cuda ] && echo gpu || echo cpu)
  echo "== train.py experiment=synthetic_smoke trainer=$accel"
  timeout 300 $PY train.py experiment=synthetic_smoke fold=0 trainer="$accel" model.pretrained=false \
    hydra.run.dir="$WORK/train" || echo "FAILED: train.py trainer=$accel"
}

for part in ${PARTS:-smoke stylize train_alexnet train_vgg19 feature_cache batch cli}; do
  case $part in
    train_*) train "${part#train_}" ;;
    *) $part ;;
  esac
done

echo "== summary"
$PY - <<'EOF'
import json, pathlib
for p in sorted(pathlib.Path("bench/out").glob("*.json")):
    r = json.loads(p.read_text())
    if r["benchmark"] == "train":
        print(p.name, r["backbone"], r["product"]["precision"], "cl" if r["product"]["channels_last"] else "",
              "w%s" % r["product"].get("workers_resolved", r["product"]["workers"]), "compile" if r["product"]["compile"] else "",
              "product %.0f img/s" % r["product"]["images_per_second"],
              "baseline %.0f img/s" % r["baseline"]["images_per_second"], "x%.2f" % r["speedup"])
    elif r["benchmark"] == "feature_cache":
        for b, v in r["backbones"].items():
            print(p.name, "feature cache", b, r["precision"], "warm/off", v["warm_over_off"],
                  "ceiling", v["ceiling"]["train_ratio"], v["ceiling"]["val_ratio"])
    elif "batch" in r:
        print(p.name, "batch", r["batch"], "x%.2f" % r["throughput_ratio"], "s/img one", r["seconds_one_image"])
    else:
        print(p.name, r["size"], r["product_precision"], "A %.1fs" % r["A_seconds"],
              "B", r["B_seconds_to_target"], "P", r["product_seconds_to_target"],
              "vsA", r["speedup_vs_A"], "vsB", r["speedup_vs_B"], "P steps/s", r["product_steps_per_second"])
EOF
