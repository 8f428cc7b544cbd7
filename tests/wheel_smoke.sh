#!/usr/bin/env bash
# The installed wheel, as a user gets it: run from a scratch folder outside the source tree (so the tree is
# not on sys.path), with the `stilts` and `python` of the environment given. .ci/run builds the wheel,
# installs it into a fresh virtual environment and calls this; by hand, see docs/development.md.
#
#   bash tests/wheel_smoke.sh VENV
#
# Checks: the package imported is the one installed in VENV; `stilts --version`; every command's --help
# (and its subcommands'), listed from `stilts --help`; `stilts tasks`; a tiny pipeline end to end (tiny
# model and data built by stilts.testing, offline); `stilts sweep --dry-run`, also with --submit slurm;
# `stilts score` and `stilts table` on files written here. Offline, under a minute on 2 cores.
set -euo pipefail

if [[ $# -ne 1 || ! -x "$1/bin/python" ]]; then
  echo "usage: bash tests/wheel_smoke.sh VENV (a virtual environment with the stilts wheel installed)" >&2
  exit 2
fi
venv="$(cd "$1" && pwd)"
tree="$(cd "$(dirname "$0")/.." && pwd)"
expected_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$tree/pyproject.toml")"
python="$venv/bin/python"
stilts="$venv/bin/stilts"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
export STILTS_CACHE="$scratch/cache" STILTS_FEATURE_CACHE="$scratch/feature-cache"
unset PYTHONPATH

fail() {
  echo "wheel smoke: FAILED: $*" >&2
  exit 1
}
step() { echo "wheel smoke: $*"; }

# --- the installed package, not the tree ----------------------------------------------------------
installed="$("$python" -c 'import stilts; print(stilts.__file__)')"
site="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
step "stilts imported from $installed"
[[ "$installed" == "$site/stilts/__init__.py" && "$site" == "$venv"/* ]] || fail "stilts is not the wheel installed in $site"
[[ "$installed" != "$tree"/* ]] || fail "stilts was imported from the source tree"

# --- version, help, tasks -------------------------------------------------------------------------
version="$("$stilts" --version)"
[[ "$version" == "stilts $expected_version" ]] || fail "stilts --version printed '$version', not 'stilts $expected_version'"
step "$version"

# the commands of a group's --help ("Commands:" section: two spaces, the name, its short help)
commands_of() { "$stilts" "$@" --help | sed -n '/^Commands:/,$p' | sed -n 's/^  \([a-z][a-z0-9-]*\) .*/\1/p'; }
help_of_each() {
  local name
  for name in $(commands_of "$@"); do
    "$stilts" "$@" "$name" --help >"$scratch/help.txt" || fail "stilts $* $name --help exited $?"
    grep -q "^Usage: stilts $* *$name" "$scratch/help.txt" || fail "stilts $* $name --help: no usage line"
    step "stilts ${*:+$* }$name --help"
    help_of_each "$@" "$name"
  done
}
top="$(commands_of)"
for name in run sweep table score tasks; do
  grep -qx "$name" <<<"$top" || fail "stilts --help does not list '$name'"
done
help_of_each

"$stilts" tasks >tasks.txt
grep -Eq '^xnli +classification +target,evaluate ' tasks.txt || fail "stilts tasks: no xnli row"
grep -Eq '^mnli ' tasks.txt || fail "stilts tasks: no mnli row"
step "stilts tasks: $(($(wc -l <tasks.txt) - 1)) tasks"

# --- a tiny pipeline end to end ---------------------------------------------------------------------
"$python" - <<'EOF'
from pathlib import Path

import yaml

from stilts.testing import build_tiny_model, write_tiny_nli, write_tiny_topics

model = build_tiny_model(Path("tiny-model"))
data = {**write_tiny_nli(Path("data"), train=48, dev=12), "topics": write_tiny_topics(Path("data/topics"))}
settings = {"learning_rate": 1e-3, "batch_size": 16, "epochs": 1, "validate_every": 100}
pipeline = {
    "name": "tiny",
    "model": str(model.resolve()),
    "seed": 1,
    "data": {task: str(folder.resolve()) for task, folder in data.items()},
    "stages": [
        {"kind": "intermediate", "tasks": ["mnli"], **settings},
        {"kind": "target", "task": "xnli", **settings},
        {"kind": "evaluate", "task": "xnli"},
    ],
}
Path("tiny.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
grid = {
    "name": "grid",
    "model": pipeline["model"],
    "data": pipeline["data"],
    "stages": {"intermediate": settings, "target": settings, "evaluate": {"max_examples": 8}},
    "matrix": {"intermediate": ["none", "mnli"], "target": ["xnli", "topics"], "seed": [1]},
    "slurm": {"time": "0:30:00"},
}
Path("grid.yaml").write_text(yaml.safe_dump(grid, sort_keys=False))
EOF
step "tiny model, data, tiny.yaml and grid.yaml written"

"$stilts" run tiny.yaml --output-dir run >run.txt 2>run.err || { cat run.txt run.err >&2; fail "stilts run exited non-zero"; }
grep -q "xnli (dev)" run.txt || fail "stilts run: no xnli (dev) table in its output"
[[ -f run/scores.csv ]] || fail "stilts run: no run/scores.csv"
head -1 run/scores.csv | grep -q "^pipeline,intermediate,mlm,target,seed,split,language,metric,value" ||
  fail "run/scores.csv: unexpected header $(head -1 run/scores.csv)"
rows="$(($(wc -l <run/scores.csv) - 1))"
[[ "$rows" -eq 6 ]] || fail "run/scores.csv: $rows rows, expected 6 (dev and test x de, en, fr)"
grep -q "^tiny,mnli,false,xnli,1,test,de,accuracy," run/scores.csv || fail "run/scores.csv: no German test accuracy"
[[ "$(ls -d run/*/COMPLETE | wc -l)" -eq 3 ]] || fail "stilts run: not 3 complete stages"
step "stilts run: 3 stages complete, scores.csv with $rows rows"

# --- sweeps, planned only ---------------------------------------------------------------------------
"$stilts" sweep grid.yaml --output-dir sweep --dry-run >sweep.txt 2>sweep.err
grep -q "to run" sweep.txt || fail "stilts sweep --dry-run: no plan"
grep -q "4 pipelines" sweep.txt || fail "stilts sweep --dry-run: not 4 pipelines"
"$stilts" sweep grid.yaml --output-dir sweep --submit slurm --gpus-per-job 0 --dry-run >slurm.txt 2>slurm.err
grep -q "slurm: would submit 9 jobs (2 job arrays)" slurm.txt || { cat slurm.txt >&2; fail "stilts sweep --submit slurm --dry-run"; }
[[ ! -e sweep/scores.csv ]] || fail "a dry run wrote scores"
step "stilts sweep --dry-run (also --submit slurm): $(grep -o 'would submit [0-9]* jobs' slurm.txt)"

# --- score and table on files written here ---------------------------------------------------------
cut -f3 data/xnli/test-de.tsv >predictions.txt
"$stilts" score --task xnli --language de --gold data/xnli/test-de.tsv --predictions predictions.txt >score.json
"$python" -c 'import json, sys; s = json.load(open("score.json")); sys.exit(0 if s["accuracy"] == 100 else f"{s}")' ||
  fail "stilts score: gold labels as predictions did not score 100"
step "stilts score: $(cat score.json)"

cat >scores.csv <<'EOF'
pipeline,intermediate,mlm,target,seed,split,language,metric,value
none-xnli,none,false,xnli,1,test,en,accuracy,80.0
none-xnli,none,false,xnli,1,test,de,accuracy,70.0
mnli-xnli,mnli,false,xnli,1,test,en,accuracy,86.0
mnli-xnli,mnli,false,xnli,1,test,de,accuracy,76.0
EOF
"$stilts" table scores.csv --split test --delta >table.txt
# the baseline's language average (80 + 70) / 2 = 75.0, and mnli's difference to it: 81.0 - 75.0 = +6.0
grep -Eq '^\| none +\| no +\| 75\.0 \|' table.txt && grep -Eq '^\| mnli +\| no +\| \+6\.0 \|' table.txt ||
  { cat table.txt >&2; fail "stilts table --delta: not xnli none 75.0, mnli +6.0"; }
"$stilts" table scores.csv --split test --per-language xnli >languages.txt
grep -Eq '^\| Intermediate +\| MLM +\| +en \| +de \| +Avg \|' languages.txt &&
  grep -Eq '^\| mnli +\| no +\| 86\.0 \| 76\.0 \| 81\.0 \|' languages.txt ||
  { cat languages.txt >&2; fail "stilts table --per-language xnli: not en 86.0, de 76.0, Avg 81.0 for mnli"; }
"$stilts" table run/scores.csv --split test --per-language xnli >run-table.txt
grep -Eq '^\| Intermediate +\| MLM +\| +en \| +de \| +fr \| +Avg \|' run-table.txt && grep -Eq '^\| mnli ' run-table.txt ||
  { cat run-table.txt >&2; fail "stilts table on the run's scores.csv: no mnli row with de and fr"; }
step "stilts table: the task, the languages and the numbers"

step "passed"
