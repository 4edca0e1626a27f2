# The two commands of the README:
#   make demo      set up .venv and run the main job (train, convert float32 / int8 / QAT,
#                  benchmark; no download)
#   make test      set up .venv and run the test suite (what CI runs: the notebooks and a
#                  small `lightnets demo` included; tests marked `slow` -- full-size
#                  reference builds, the zoo benchmark smoke run, the longer training
#                  runs -- are left to `make test-all`)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Two pytest workers: the CI machine has two cores.
PYTEST_WORKERS ?= 2

.PHONY: demo test test-all install clean reference

# The PyTorch reference of the exactness tests (Debian's python3-torchvision, called in a
# subprocess; never a dependency of the package).
reference: $(STAMP)
	bash tools/install_reference.sh

install: $(STAMP)

$(STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lightnets demo

test: $(STAMP) reference
	TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --durations=40 -m "not slow" tests

test-all: $(STAMP) reference
	TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --durations=40 tests

clean:
	rm -rf $(VENV) demo_output

# Regenerates the TFLite metadata goldens with tflite-support 0.4.4 itself, in its
# own virtual environment (tests/data/tflite_support/README.md).
.PHONY: metadata-goldens
metadata-goldens:
	bash tests/data/tflite_support/generate.sh
