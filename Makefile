# One-command entry points. Both create .venv and install everything first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: venv demo test test-all lint clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip check
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m vangogh_lightning.study.demo

# Two pytest workers. Tests are dealt out one by one; a module whose tests share an expensive module
# fixture keeps them on one worker (its xdist_group mark), and the suite's one trained run is shared by
# both workers (tests/conftest.py). `test`: the fast tier, without the end-to-end tests (marked e2e);
# `test-all`: everything, as CI runs it.
PYTEST := $(PY) -m pytest -q -n 2 --dist loadgroup --durations=25

test: venv
	$(PY) -m ruff check .
	$(PYTEST) -m "not e2e"

test-all: venv
	$(PY) -m ruff check .
	$(PYTEST)

lint: venv
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) outputs multirun demo_outputs
