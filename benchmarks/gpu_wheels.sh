#!/usr/bin/env bash
# The wheels the GPU machine's image lacks, downloaded here into .whl/ (git-ignored through .git/info/exclude) for
# benchmarks/gpu_check.sh, which installs them there without a network. That image (Python 3.12, torch 2.11,
# transformers 5.17, accelerate, pandas, pyarrow, scikit-learn, numba, matplotlib, seaborn, PyYAML, tqdm) has none
# of these: datasets and its dill and multiprocess; soundfile (libsndfile inside) and cffi, pycparser; soxr;
# librosa and audioread, decorator, pooch, platformdirs. The versions are requirements.txt's pins where it has one.
#
#     bash benchmarks/gpu_wheels.sh          # then run gpu_check.sh there with carry [".whl", "gpu-data"]
set -euo pipefail
cd "$(dirname "$0")/.."
pin() { grep -E "^$1==" requirements.txt || echo "$1"; }
grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >>.git/info/exclude
mkdir -p .whl
packages=("$(pin datasets)" "dill==0.4.1" "multiprocess==0.70.19" "$(pin soundfile)" "cffi==2.1.1" "pycparser==3.12"
          "$(pin soxr)" "$(pin librosa)" "audioread==3.1.0" "decorator==5.3.1" "pooch==1.9.0" "platformdirs==4.14.9")
for package in "${packages[@]}"; do
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$package"
done
ls -l .whl
