#!/bin/sh
# One-command set-up. Creates .venv with Python 3.11, installs hcp from this checkout, then:
#   ./setup.sh demo [hcp demo options]   — the main job on the embedded warehouse
#   ./setup.sh test [pytest options]     — the linter, then the test suite (also installs the system packages tests need)
set -eu
cd "$(dirname "$0")"

pick_python() {
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    echo "hcp needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
}

ensure_venv() {
    if [ ! -x .venv/bin/python ]; then
        "$(pick_python)" -m venv .venv
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$1"
}

task="${1:-}"
[ $# -gt 0 ] && shift
case "$task" in
    demo)
        ensure_venv "."
        sh scripts/system-deps.sh runtime
        exec .venv/bin/hcp demo "$@"
        ;;
    test)
        ensure_venv ".[test]"
        sh scripts/system-deps.sh test
        .venv/bin/ruff check --no-cache .   # lint first: a syntax error or an undefined name fails at once
        status=0
        .venv/bin/python -m pytest "$@" || status=$?
        if [ "$status" -eq 5 ]; then
            echo "pytest collected no tests"; status=0
        fi
        exit "$status"
        ;;
    *)
        echo "usage: ./setup.sh demo [options] | ./setup.sh test [pytest options]" >&2
        exit 2
        ;;
esac
