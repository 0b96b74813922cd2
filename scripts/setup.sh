#!/usr/bin/env bash
# Set up everything spfteach needs, idempotently: Graphviz's `dot`, Chromium and bubblewrap
# (Debian packages; the browser tests drive Debian's chromium through playwright, whose own
# `playwright install` downloads a browser build and cannot be used; the grader confines a
# student's code with bubblewrap), a virtual environment in .venv, and the package with its test
# tools (`pip install -e '.[test]'`); and the hub's venv, .venv-hub, on /usr/bin/python3 (make hub:
# `pip install -e '.[hub]'`, JupyterHub, and npm's configurable-http-proxy in its prefix).
# A second run with an unchanged pyproject.toml only checks and returns.
#   PYTHON=python3.12 scripts/setup.sh   # choose the interpreter for .venv (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.spfteach-setup-stamp"
PYTHON="${PYTHON:-python3}"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit "${2:-1}"; }

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)

APT_UPDATED=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        printf 'setup: no apt-get here (not Debian/Ubuntu): install %s with your package manager, then run this again\n' "$*" >&2
        exit 2
    fi
    if [ "${#SUDO[@]}" -gt 0 ] && ! command -v sudo >/dev/null 2>&1; then
        die "need root to install $* (no sudo found): run as root, or install it yourself" 2
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        "${SUDO[@]}" apt-get update -qq
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. Graphviz's `dot`, which the graphviz Python binding calls to draw.
if command -v dot >/dev/null 2>&1; then
    say "dot: $(command -v dot)"
else
    apt_install graphviz
    command -v dot >/dev/null 2>&1 || die "graphviz installed but \`dot\` is still not on PATH"
fi

# 1b. Chromium, which the browser tests (tests/browser/) drive headless through playwright.
if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; then
    say "chromium: $(command -v chromium || echo /usr/bin/chromium)"
else
    apt_install chromium
    { [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; } \
        || die "chromium installed but \`chromium\` is still not on PATH"
fi

# 1c. bubblewrap, the jail a student's code runs in when it is graded (spfteach/grading/jail.py):
# grading refuses to run without it, it never falls back to running the code unconfined.
if command -v bwrap >/dev/null 2>&1; then
    say "bwrap: $(command -v bwrap)"
else
    apt_install bubblewrap
    command -v bwrap >/dev/null 2>&1 || die "bubblewrap installed but \`bwrap\` is still not on PATH"
fi
# As root the jail runs as a uid of its own, which cannot read an interpreter under /root
# (pyenv's): it then runs Debian's python3.
if [ "$(id -u)" -eq 0 ] && [ ! -x /usr/bin/python3 ]; then
    apt_install python3
fi

# 2. A Python >= 3.10 that can make a venv (Debian ships venv/ensurepip as python3-venv).
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python >= 3.10 (apt: python3)" 2
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "$("$PYTHON" -V 2>&1) is too old: spfteach needs Python >= 3.10 (set PYTHON=...)" 2

venv_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; }

if ! venv_ok; then
    if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        apt_install python3-venv
    fi
    [ -e "$VENV" ] && { say "removing broken $VENV"; rm -rf "$VENV"; }
    say "creating $VENV ($("$PYTHON" -V 2>&1))"
    "$PYTHON" -m venv "$VENV"
fi

# 3. The package and its test tools, re-installed only when pyproject.toml changes.
KEY="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1) $("$VENV/bin/python" -V 2>&1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ]; then
    say "up to date (.venv matches pyproject.toml)"
else
    say "pip install -e '.[test]' (a minute or two the first time)"
    start=$SECONDS
    rm -f "$STAMP"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[test]"
    printf '%s\n' "$KEY" > "$STAMP"
    say "done in $((SECONDS - start)) s"
fi

# 4. The hub's venv (make hub, tests/hub/): JupyterHub and its idle culler (the `hub` extra),
# with npm's configurable-http-proxy in its prefix.  A venv of its own, on the system's
# /usr/bin/python3: every student's server runs from it as the student, and .venv's
# interpreter may live where no student can execute it (pyenv's, under /root).
HUB_VENV="$ROOT/.venv-hub"
HUB_STAMP="$HUB_VENV/.spfteach-setup-stamp"
HUB_PYTHON="${HUB_PYTHON:-/usr/bin/python3}"
if [ ! -x "$HUB_PYTHON" ]; then
    apt_install python3
fi
"$HUB_PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_install python3-venv
command -v npm >/dev/null 2>&1 || apt_install npm
HUB_KEY="$KEY $("$HUB_PYTHON" -V 2>&1) chp5"
hub_ok() { [ -x "$HUB_VENV/bin/python" ] && "$HUB_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; }
if [ -f "$HUB_STAMP" ] && [ "$(cat "$HUB_STAMP")" = "$HUB_KEY" ] && hub_ok \
        && [ -x "$HUB_VENV/node_modules/.bin/configurable-http-proxy" ]; then
    say "hub: up to date (.venv-hub)"
else
    start=$SECONDS
    hub_ok || { rm -rf "$HUB_VENV"; say "creating $HUB_VENV ($("$HUB_PYTHON" -V 2>&1))"; \
                "$HUB_PYTHON" -m venv "$HUB_VENV"; }
    rm -f "$HUB_STAMP"
    say "hub: pip install -e '.[hub]' into .venv-hub"
    "$HUB_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[hub]"
    say "hub: npm install configurable-http-proxy into .venv-hub/node_modules"
    npm install --prefix "$HUB_VENV" --no-audit --no-fund --silent "configurable-http-proxy@^5"
    [ -x "$HUB_VENV/node_modules/.bin/configurable-http-proxy" ] \
        || die "npm installed configurable-http-proxy but $HUB_VENV/node_modules/.bin has none"
    printf '%s\n' "$HUB_KEY" > "$HUB_STAMP"
    say "hub: done in $((SECONDS - start)) s"
fi
