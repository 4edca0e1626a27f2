#!/usr/bin/env bash
# The PyTorch references the tests compare against, never dependencies of the package:
# - Debian's python3-torchvision (torchvision 0.14 on torch 1.13, CPU) for the system Python;
# - timm 0.9.16 (pure Python; on that torch) unpacked into .reference/ beside the repo.
# Tests run that interpreter in a subprocess (tests/torch_reference.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${KL_REFERENCE_PYTHON:-/usr/bin/python3}
SITE=${KL_REFERENCE_SITE:-.reference}
TIMM_VERSION=0.9.16
PIP_PYTHON=${KL_PIP_PYTHON:-.venv/bin/python}  # any Python with pip, to fetch the timm wheel

if ! "$PYTHON" -c "import torch, torchvision" 2>/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      echo "install_reference: run as root, or: apt-get install python3-torchvision" >&2; exit 1
    fi
  fi
  echo "==> installing the PyTorch reference (Debian python3-torchvision; once, about 2 minutes)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q --no-install-recommends python3-torchvision >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q --no-install-recommends python3-torchvision >/dev/null; }
  "$PYTHON" -c "import torch, torchvision; print('reference: torch', torch.__version__, 'torchvision', torchvision.__version__)"
fi

if ! PYTHONPATH="$SITE" "$PYTHON" -c "import timm; assert timm.__version__ == '$TIMM_VERSION'" 2>/dev/null; then
  echo "==> unpacking timm $TIMM_VERSION into $SITE for the reference (its dependencies are Debian's torch and torchvision)"
  wheels=$(mktemp -d)
  "$PIP_PYTHON" -m pip download --quiet --no-deps "timm==$TIMM_VERSION" -d "$wheels"
  rm -rf "$SITE"/timm "$SITE"/timm-*.dist-info
  mkdir -p "$SITE"
  "$PIP_PYTHON" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$wheels"/timm-*.whl "$SITE"
  rm -rf "$wheels"
  PYTHONPATH="$SITE" "$PYTHON" -c "import timm; print('reference: timm', timm.__version__)"
fi
