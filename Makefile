# Two commands for a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv and install the project into it on first use.
PYTHON ?= python3
VENV ?= .venv
# Offline data: $RC_DATA_DIR if set, else ../shared/datasets if present, else Keras downloads.
RC_DATA_DIR ?= $(if $(wildcard ../shared/datasets/mnist.npz),$(abspath ../shared/datasets),)
export RC_DATA_DIR
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-all

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/python -m experiments.reproduce --dataset mnist --profile quick

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest

test-all: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -m ""
