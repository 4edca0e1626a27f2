#!/usr/bin/env bash
# Regenerates tests/data/tflite_support/expected/*.tflite with tflite-support 0.4.4
# itself, in a virtual environment of its own (requirements.txt): tflite-support
# pins protobuf<4, which cannot sit beside TensorFlow 2.21.
#
#   bash tests/data/tflite_support/generate.sh     (or: make metadata-goldens)
#
# PYTHON picks the interpreter (3.11, as the goldens were made with); the
# environment goes to TFLITE_SUPPORT_VENV, outside the repository by default.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${TFLITE_SUPPORT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/keras_lightnets/tflite-support-0.4.4}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "generate.sh: needs Python 3.11 (the goldens were made with it); $PYTHON is $("$PYTHON" -V 2>&1). Set PYTHON=python3.11." >&2
    exit 2
fi
# (re)made when missing or when requirements.txt changed since it was made
if ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt" 2>/dev/null; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --no-deps --only-binary=:all: -r "$HERE/requirements.txt"
    "$VENV/bin/python" -m pip check
    cp "$HERE/requirements.txt" "$VENV/requirements.txt"
fi
# Without TensorFlow, tflite-support reads and writes files with plain open().
if "$VENV/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("tensorflow") is None)'; then
    echo "generate.sh: TensorFlow is importable in $VENV; the goldens are made without it." >&2
    exit 2
fi
"$VENV/bin/python" "$HERE/generate.py"
