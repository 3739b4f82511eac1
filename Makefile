# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv itself.
# `make test` also builds a .venv-3.X for each other Python the classifiers claim
# (scripts/test): the suite runs on every one of them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml scripts/venv
	scripts/venv $(PYTHON) $(VENV)

demo: $(STAMP)
	$(BIN)/python -m dingwire.demo

test: $(STAMP)
	scripts/test

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src

bench: $(STAMP)
	$(BIN)/python bench/bench_send.py

clean:
	rm -rf $(VENV) .venv-3.* .pytest_cache .mypy_cache .ruff_cache .hypothesis
