#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, and generate text.
# With no model named it runs the tiny real model ../shared/models/stories260K.gguf;
# set LLAMUX_MODEL or pass -m FILE (and any other `llamux run` flags) to use yours.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
args=("$@")
model_given=0
for a in "$@"; do [[ "$a" == "-m" || "$a" == --model* ]] && model_given=1; done
if ((!model_given)); then
  args=(-m "${LLAMUX_MODEL:-../shared/models/stories260K.gguf}" "${args[@]}")
fi
prompt_given=0
count_given=0
for a in "$@"; do
  [[ "$a" == "-p" || "$a" == --prompt* || "$a" == "-f" || "$a" == --file* ]] && prompt_given=1
  [[ "$a" == "-n" || "$a" == --n-predict* ]] && count_given=1
done
((prompt_given)) || args+=(-p "Once upon a time")
((count_given)) || args+=(-n 128)
exec ./build/bin/llamux run "${args[@]}"
