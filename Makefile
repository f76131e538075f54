# One-command entry points. Both create .venv and install everything first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: venv demo test lint clean

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

# Two pytest workers, one test module each at a time (a module's shared fixture runs once): much of
# the suite is interpreter start-up and imports of script runs, which overlap well on 2 cores.
test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2 --dist loadscope --durations=25

lint: venv
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) outputs multirun demo_outputs
