#!/usr/bin/env bash
# The PyTorch reference the tests compare against: Debian's python3-torchvision
# (torchvision 0.14 on torch 1.13, CPU) for the system Python. The package never
# imports torch; tests run this interpreter in a subprocess (tests/torch_reference.py).
set -euo pipefail
PYTHON=${KL_REFERENCE_PYTHON:-/usr/bin/python3}
if "$PYTHON" -c "import torch, torchvision" 2>/dev/null; then
  exit 0
fi
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
