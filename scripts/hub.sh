#!/usr/bin/env bash
# make hub: JupyterHub on 127.0.0.1:$HUB_PORT serving the workbook to the local Unix users of
# the class (spfteach/hub/). As root: the hub spawns each student's server as the student.
#   make hub HUB_ROSTER=class.csv            enrol the class (again: changes nothing), then serve
#   make hub HUB_ROOT=/srv/course HUB_PORT=8000
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HUB_ROOT="${HUB_ROOT:-/srv/spfteach-hub}"
HUB_PORT="${HUB_PORT:-8000}"
SPFTEACH="$ROOT/.venv-hub/bin/spfteach"
if [ "$(id -u)" -ne 0 ]; then
    echo "hub: run as root (sudo make hub): the hub creates Unix users and runs each server as its user" >&2
    exit 2
fi
if [ -n "${HUB_ROSTER:-}" ]; then
    "$SPFTEACH" hub roster "$HUB_ROSTER" --root "$HUB_ROOT"
fi
exec "$SPFTEACH" hub serve --root "$HUB_ROOT" --port "$HUB_PORT"
