#!/usr/bin/env bash
# One command from a fresh clone: set up (if needed), then the whole pipeline on generated data with a short
# schedule (data -> search -> fine-tune -> export -> predict), then the released model on a real photo.
#   bash first_run.sh [OUT]        (default OUT: runs/first_run; a new folder per run if it exists)
# Set-up: with a virtual environment active (or PYTHON=...), that Python is used as it is; otherwise .venv is
# made here if missing, with torch's CPU build where no NVIDIA GPU is found (the CUDA build from PyPI where one
# is), the pinned requirements and this package. Set-up output goes to .venv/setup.log.
set -euo pipefail
cd "$(dirname "$0")"

setup_venv() {
    echo "setting up .venv (one time; log: .venv/setup.log)"
    python3 -m venv .venv
    local pip=".venv/bin/pip" torch
    torch=$(grep -E '^torch==' requirements.txt)
    if command -v nvidia-smi > /dev/null && nvidia-smi > /dev/null 2>&1; then
        echo "  NVIDIA GPU found: $torch from PyPI (the CUDA build)"
    elif "$pip" install -q "$torch" --index-url https://download.pytorch.org/whl/cpu --timeout 15 --retries 0 \
            >> .venv/setup.log 2>&1; then
        echo "  no NVIDIA GPU: $torch, CPU build"
    else
        echo "  no NVIDIA GPU, and PyTorch's CPU index cannot be reached: $torch from PyPI instead"
    fi
    "$pip" install -q -r requirements.txt >> .venv/setup.log 2>&1
    "$pip" install -q -e . --no-deps >> .venv/setup.log 2>&1
}

if [[ -n "${PYTHON:-}" ]]; then
    PY=$PYTHON
elif [[ -n "${VIRTUAL_ENV:-}" ]]; then
    PY=python
else
    if ! .venv/bin/python -c "import fbnet_pfld, torch" > /dev/null 2>&1; then
        rm -rf .venv
        setup_venv
    fi
    PY=.venv/bin/python
fi

OUT=${1:-runs/first_run}
if [[ -e "$OUT" ]]; then  # never write over an earlier run
    n=2; while [[ -e "${OUT}_$n" ]]; do n=$((n + 1)); done; OUT="${OUT}_$n"
fi
export PYTHONUNBUFFERED=1
started=$SECONDS
step() {  # LOG COMMAND...: runs it with its output in LOG; on failure shows LOG's end and stops
    local log=$1; shift
    if ! "$@" > "$log" 2>&1; then
        echo "failed: $*" >&2; tail -n 5 "$log" >&2; echo "(whole log: $log)" >&2; exit 1
    fi
}
echo "pipeline on generated data -> $OUT (logs: $OUT/*.log)"
mkdir -p "$OUT"
step "$OUT/data.log" $PY -m fbnet_pfld.synthetic --out "$OUT/data" --num_points 68 --train 256 --test 32
echo "  data: $OUT/data"
step "$OUT/search.log" $PY supernet_train.py --data_root "$OUT/data" --snapshot "$OUT" --lut data/lut_x86_ort.json --fastpath eager \
    --epochs 3 --warmup_epochs 1 --batch_size 32 --workers 0 --dev_id cpu
echo "  search: $OUT/supernet/arch.json"
step "$OUT/finetune.log" $PY retrain.py --supernet "$OUT/supernet/checkpoint_best.pth" --data_root "$OUT/data" --snapshot "$OUT" \
    --fastpath eager --epochs 3 --batch_size 32 --workers 0 --dev_id cpu
echo "  fine-tune: $OUT/subnet/checkpoint_last.pth"
step "$OUT/export.log" $PY export.py --supernet "$OUT/supernet/checkpoint_best.pth" --resume "$OUT/subnet/checkpoint_last.pth" \
    --output "$OUT/subnet.onnx" --data_root "$OUT/data"
echo "  export: $OUT/subnet.onnx"
# The generated faces are already 112x112 crops: give the first one's landmark box (from list.txt).
read -r X1 Y1 X2 Y2 < <(awk 'NR==1 {x1=y1=1e9; x2=y2=-1e9;
    for (i=2; i<NF-2; i+=2) {x=$i*112; y=$(i+1)*112; if(x<x1)x1=x; if(x>x2)x2=x; if(y<y1)y1=y; if(y>y2)y2=y}
    print x1, y1, x2, y2}' "$OUT/data/test_data/list.txt")
step "$OUT/predict.log" $PY predict.py "$OUT/data/test_data/imgs/face00000__0.png" --model "$OUT/subnet.onnx" --box "$X1" "$Y1" "$X2" "$Y2" \
    --out "$OUT/predict"
echo "  predict: $OUT/predict/face00000__0_png_landmarks.png"
# The released model on a real photo (NASA's portrait of Eileen Collins, public domain), detector included.
step "$OUT/photo.log" $PY predict.py fbnet_pfld/data/astronaut.jpg --model released/subnet.onnx --out "$OUT/photo"
echo "released model on a real photo: $OUT/photo/astronaut_jpg_landmarks.png and astronaut_jpg.json"
# The same photo as a still clip (fresh noise every frame), tracked raw and through the video filter.
step "$OUT/filter.log" $PY -m tools.play_filter fbnet_pfld/data/astronaut.jpg --model released/subnet.onnx \
    --out "$OUT/filter"
echo "the video filter on it: $OUT/filter.mp4 and $OUT/filter.gif (raw left, filtered right; $OUT/filter.log)"
echo "done in $((SECONDS - started)) s"
