#!/usr/bin/env bash
# The whole pipeline on generated data with a short schedule, to check an install in a few minutes:
# data -> search -> retrain -> export -> predict. Ends with OUT/subnet.onnx and OUT/predict/*_landmarks.png.
#   bash first_run.sh [OUT]        (default OUT: runs/first_run)
set -euo pipefail
cd "$(dirname "$0")"
OUT=${1:-runs/first_run}
PY=${PYTHON:-python}
export PYTHONUNBUFFERED=1
$PY -m fbnet_pfld.synthetic --out "$OUT/data" --num_points 68 --train 512 --test 64
$PY supernet_train.py --data_root "$OUT/data" --snapshot "$OUT" --lut data/lut_x86_ort.json \
    --epochs 4 --warmup_epochs 1 --batch_size 32 --workers 1 --dev_id cpu
$PY retrain.py --supernet "$OUT/supernet/checkpoint_best.pth" --data_root "$OUT/data" --snapshot "$OUT" \
    --epochs 4 --batch_size 32 --workers 1 --dev_id cpu
$PY export.py --supernet "$OUT/supernet/checkpoint_best.pth" --resume "$OUT/subnet/checkpoint_best.pth" \
    --output "$OUT/subnet.onnx" --data_root "$OUT/data"
# The generated faces are already 112x112 crops: give the first one's landmark box (from list.txt).
read -r X1 Y1 X2 Y2 < <(awk 'NR==1 {x1=y1=1e9; x2=y2=-1e9;
    for (i=2; i<NF-2; i+=2) {x=$i*112; y=$(i+1)*112; if(x<x1)x1=x; if(x>x2)x2=x; if(y<y1)y1=y; if(y>y2)y2=y}
    print x1, y1, x2, y2}' "$OUT/data/test_data/list.txt")
$PY predict.py "$OUT/data/test_data/imgs/face00000__0.png" --model "$OUT/subnet.onnx" --box "$X1" "$Y1" "$X2" "$Y2" \
    --out "$OUT/predict"
echo "done: $OUT/subnet.onnx and $OUT/predict/face00000__0_png_landmarks.png"
