#!/usr/bin/env bash
# Every check CI makes, in one script that both `.ci/run` (this machine kind) and GitHub's workflow call.
# It expects the dev environment to be active (`pip install -e ".[dev]"`: README, set-up command 1).
#
#   bash tools/ci.sh            # all checks
#   SKIP_OUTSIDE=1 bash tools/ci.sh   # without the second environment (every notebook from an empty folder)
#
# ASGE_DATA: a data folder for the real-data smoke tests; unset, they download what they need or skip.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo; echo "=== $* ($(date +%H:%M:%S))"; }

step "notebooks and package in sync, notebooks clean"
nbdev_export
nbdev_clean
if [ -n "$(git status --porcelain -- asge_nb nbs)" ]; then
  echo "notebooks and package are not in sync, or a notebook is not clean: run nbdev_export and nbdev_clean, then commit"
  git status --porcelain -- asge_nb nbs; git --no-pager diff --stat -- asge_nb nbs; exit 1
fi
python tools/make_readme.py --check          # README.md is generated from nbs/index.ipynb
python tools/make_sidebar.py --check         # the docs sidebar lists every notebook in reading order
python tools/check_structure.py              # imports follow the reading order; sizes; docstrings

# nbdev_test runs two notebooks at once on 2 cores: one torch thread each, or OpenMP's spin-waits oversubscribe the CPU
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
step "nbdev_test (README, test command): every notebook's default tests"
start=$(date +%s)
nbdev_test
echo "nbdev_test: $(( $(date +%s) - start ))s"
step "nbdev_test --flags smoke: the real-data smoke trainings"
start=$(date +%s)
nbdev_test --flags smoke
echo "nbdev_test --flags smoke: $(( $(date +%s) - start ))s"

step "the GPU check's code path on the CPU at tiny sizes (bf16 and fp16 autocast, resume, throughput)"
if [ -n "${ASGE_DATA:-}" ]; then python bench/gpu_check.py --dry-run --out "$(mktemp -d)/gpu_check_dry_run.json"
else echo "gpu_check --dry-run skipped: it needs CIFAR10-subset/ in a data folder (ASGE_DATA)"; fi
python -m bench.test_common                  # the results writer never loses a row
step "the step-time bench's code path at a tiny size (run as a file: each build in a spawned process)"
python bench/step_time.py --cases resnet18_ch4 --steps 2 --warmup 1 --repeats 2 --profile never \
  --out "$(mktemp -d)/step_time_smoke.json"

step "docs pages render (offline: nbdev's processing + nbconvert; screenshots where Chromium is installed)"
if command -v chromium >/dev/null; then python tools/check_docs.py; else python tools/check_docs.py --no-shots; fi

# A Python of the given version: on PATH, or one of pyenv's.
find_python() {
  if command -v "python$1" >/dev/null && "python$1" --version >/dev/null 2>&1; then echo "python$1"; return; fi
  for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python; do [ -x "$p" ] && { echo "$p"; return; }; done
  return 1
}
# A second environment as a reader has it: a plain `pip install .` (no dev extras), a kernel and the ipywidgets the
# reader's Jupyter has (Colab ships 7.7; the dev environment has 8, so the explorer's tests run under both); then the
# notebooks run from an empty folder outside the repository (tools/run_outside.py), each reported.
outside() {
  local py="$1" WIDGETS="$2"; shift 2
  local env_dir; env_dir="$(mktemp -d)/user-env"
  "$py" -m venv "$env_dir"
  "$env_dir/bin/python" -m pip install -q --upgrade pip
  local kernel=ipykernel; [[ "$WIDGETS" == ==7* ]] && kernel="ipykernel<7"   # Colab's pair: ipywidgets 7.7, ipykernel 6
  "$env_dir/bin/python" -m pip install -q . nbclient "$kernel" "ipywidgets$WIDGETS"
  "$env_dir/bin/python" -m ipykernel install --prefix "$env_dir" --name asge-user >/dev/null
  echo "second environment: $("$env_dir/bin/python" --version), no dev extras"
  JUPYTER_PATH="$env_dir/share/jupyter" "$env_dir/bin/python" tools/run_outside.py --kernel asge-user "$@"
  rm -rf "$(dirname "$env_dir")"
}
low="$(python -c 'import configparser as c; p = c.ConfigParser(); p.read("settings.ini"); print(p["DEFAULT"]["min_python"])')"
new="$(python -c 'import re; print(re.search(r"py_versions = .(.*).\.split", open("setup.py").read()).group(1).split()[-1])')"
if [ -z "${SKIP_OUTSIDE:-}" ]; then
  step "every notebook as a reader runs it, on the lowest Python the package claims ($low)"
  if py="$(find_python "$low")"; then outside "$py" "==7.7.*" nbs/*.ipynb
  else echo "Python $low not found: every notebook runs on $(python3 --version) instead"; outside python3 "==7.7.*" nbs/*.ipynb; fi
  step "the newest Python the package claims ($new): the first lessons, the loop and the CLI from an empty folder"
  if py="$(find_python "$new")"; then outside "$py" ">=8" nbs/00_asge_in_one_page.ipynb nbs/13_train.ipynb nbs/14_cli.ipynb
  else echo "Python $new not found here: not checked"; fi
fi
echo
n=$(ls nbs/*.ipynb | grep -v '/_' | wc -l)
echo "$n passed, 0 failed"
