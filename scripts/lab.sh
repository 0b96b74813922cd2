#!/usr/bin/env bash
# Start JupyterLab on notebooks/ (opening 00-start-here.ipynb), on loopback only, without
# opening a browser.
# `make lab` runs this (after scripts/setup.sh); tests/frontends/test_lab.py runs exactly this too.
#   LAB_PORT=8899 scripts/lab.sh    # port (default 8888; if taken, Jupyter tries the next ones)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JUPYTER="$ROOT/.venv/bin/jupyter"
PORT="${LAB_PORT:-8888}"

[ -x "$JUPYTER" ] || { echo "lab: $JUPYTER not found: run 'make setup' first" >&2; exit 2; }
[[ "$PORT" =~ ^[0-9]+$ ]] || { echo "lab: LAB_PORT must be a number, got '$PORT'" >&2; exit 2; }

mkdir -p "$ROOT/notebooks"  # git keeps no empty folder; a fresh clone may not have it yet

args=(lab
    --no-browser
    --ServerApp.ip=127.0.0.1
    --ServerApp.port="$PORT"
    --ServerApp.root_dir="$ROOT/notebooks"
    --LabApp.default_url=/lab/tree/00-start-here.ipynb)
[ "$(id -u)" -eq 0 ] && args+=(--allow-root)

echo "lab: starting JupyterLab on http://127.0.0.1:$PORT (notebooks/); open the URL with ?token=... printed below; Ctrl-C to stop"
exec "$JUPYTER" "${args[@]}"
