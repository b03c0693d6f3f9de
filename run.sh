#!/usr/bin/env bash
# One entry point that does all set-up on a fresh machine, then runs a job.
#   ./run.sh main    -- the main job (see README)
#   ./run.sh test    -- the test suite
#   ./run.sh docs    -- the documentation site (docs/build_docs.py); prints the path of index.html
#   ./run.sh pmm ARGS -- any `pmm` subcommand inside the project's environment
set -euo pipefail
cd "$(dirname "$0")"
VENV=${PMM_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.installed-$(cat pyproject.toml setup.py | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[test,docs]'
  touch "$stamp"
fi
export JAX_PLATFORMS=${JAX_PLATFORMS:-cpu}
job=${1:-main}; shift || true
case "$job" in
  main) exec "$VENV/bin/pmm" demo "$@" ;;
  test) exec "$VENV/bin/python" -m pytest -n 2 "$@" ;;
  docs) exec "$VENV/bin/python" docs/build_docs.py "$@" ;;
  pmm)  exec "$VENV/bin/pmm" "$@" ;;
  *) echo "usage: ./run.sh {main|test|docs|pmm ARGS}" >&2; exit 2 ;;
esac
