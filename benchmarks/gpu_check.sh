#!/usr/bin/env bash
# Every GPU measurement in one call, for a session that is lent the GPU machine (15 minutes of it in all, start-up
# included): its rows and its log go under $OUT, which comes back (at most 8 files). Nothing comes from a network.
#
#   Here, once:   bash benchmarks/gpu_wheels.sh                      # .whl/: what that image lacks
#                 python benchmarks/flac_copy.py ../shared/data/ravdess-16k gpu-data/ravdess-flac --without-bundled
#   There:        device run, command "bash benchmarks/gpu_check.sh", carry [".whl", "gpu-data"], timeout_s 540
#   Rehearsal:    bash benchmarks/gpu_check.sh --tiny                # on a CPU, in minutes (a test runs it in CI)
#
# The steps, each under its own time limit and all within 7.5 minutes, each a line in $OUT/summary.md:
#   env         the versions there, and the project importing and accepting them (ser_utils.errors.check_versions)
#   replica     facebook/wav2vec2-base as a Hub cache holds it, at its real size with random weights
#               (benchmarks/hub_replicas.py), so that the full profile's from_pretrained path is the one that runs
#   data        the 1440 clips: gpu-data/ravdess-flac's 20 actors and the bundled sample's 4, linked into one folder
#   throughput  benchmarks/train_throughput.py: the original configuration against the full profile's, one run
#   full_run    benchmarks/full_run.py: the full profile, 20 epochs, through `python -m ser_utils train`
#   predict     benchmarks/predict_throughput.py on the trained model folder: batch 1 against batch 64
# --tiny does the same with the tests' small replica, the bundled sample, 2 timed steps and 1 epoch, on the CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
tiny=0
[ "${1:-}" = "--tiny" ] && tiny=1
OUT=${OUT:-outputs/gpu_check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
log=$OUT/gpu_check.log
rows=$OUT/BENCHMARKS.md
summary=$OUT/summary.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_HOME=$work/hf TRANSFORMERS_VERBOSITY=error
printf '| step | exit status | seconds |\n|---|---|---|\n' >"$summary"
: >"$log"

deadline=$((SECONDS + 450)) # every step ends within 7.5 minutes of the start, so that a rerun still fits
step() { # step NAME SECONDS COMMAND...: the command under a time limit, its output in the log, a summary line
    local name=$1 limit=$2 start=$SECONDS status
    shift 2
    [ $((deadline - SECONDS)) -lt "$limit" ] && limit=$((deadline - SECONDS))
    [ "$limit" -le 0 ] && limit=1
    echo "=== $name: $*" >>"$log"
    timeout "$limit" "$@" >>"$log" 2>&1
    status=$?
    echo "| $name | $status | $((SECONDS - start)) |" >>"$summary"
    echo "$name: exit status $status after $((SECONDS - start)) s"
    return $status
}

if compgen -G ".whl/*.whl" >/dev/null; then # the wheels that image lacks (benchmarks/gpu_wheels.sh)
    step wheels 60 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$work/site" \
        .whl/*.whl || exit 1
    export PYTHONPATH=$work/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

versions='import sys, torch, transformers, accelerate, datasets
from ser_utils.errors import check_versions
import ser_utils.train.run
check_versions()
cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
print("versions: python", sys.version.split()[0], "torch", torch.__version__, "CUDA", torch.version.cuda, "transformers",
      transformers.__version__, "accelerate", accelerate.__version__, "datasets", datasets.__version__, "|", cuda)'
command -v nvidia-smi >/dev/null && nvidia-smi >>"$log" 2>&1
step env 60 "$PY" -c "$versions" || exit 1
grep "^versions: " "$log"

size=(--real-size)
[ $tiny = 1 ] && size=()
step replica 90 "$PY" benchmarks/hub_replicas.py one "$HF_HOME" facebook/wav2vec2-base "${size[@]}" || exit 1

data=$work/ravdess # one folder of actor folders, each clip a link (a corpus scan does not enter linked folders)
actors=("$PWD"/ser_utils/data/ravdess-sample/Actor_*)
[ $tiny = 0 ] && actors+=("$PWD"/gpu-data/ravdess-flac/Actor_*)
for actor in "${actors[@]}"; do
    [ -d "$actor" ] || continue
    mkdir -p "$data/${actor##*/}"
    ln -s "$actor"/*.flac "$data/${actor##*/}"/
done
clips=$(find -L "$data" -name '*.flac' | wc -l)
expected=1440
[ $tiny = 1 ] && expected=240
echo "| data | $clips clips | |" >>"$summary"
if [ "$clips" != $expected ]; then
    echo "data: $clips clips in $data, not $expected: run benchmarks/flac_copy.py here first (see the top of $0)"
    exit 1
fi

if [ $tiny = 1 ]; then
    step throughput 120 "$PY" benchmarks/train_throughput.py --arch tiny --steps 2 --device cpu --output "$rows"
    step full_run 180 "$PY" benchmarks/full_run.py --data "$data" --epochs 1 --outputs "$work/full" --output "$rows" \
        --model-note "the tests' small replica, random weights"
    step predict 120 "$PY" benchmarks/predict_throughput.py --model "$work/full/model" --data "$data" --clips 4 \
        --batch-size 2 --quick
else
    step throughput 150 "$PY" benchmarks/train_throughput.py --steps 20 --warmup 3 --output "$rows"
    step full_run 240 "$PY" benchmarks/full_run.py --data "$data" --outputs "$work/full" --output "$rows" \
        --model-note "replica of its files at its real size, random weights"
    step predict 150 "$PY" benchmarks/predict_throughput.py --model "$work/full/model" --data "$data" --clips 1440 \
        --batch-size 64
fi
cp "$work"/full/runs/*/run_info.json "$OUT"/ 2>/dev/null
cat "$summary"
! grep -q "| [1-9][0-9]* | [0-9]* |$" "$summary"
