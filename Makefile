# One task runner for people and CI. `make test` is what .ci/run runs.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Test files run in parallel processes (pytest-xdist), a file's tests together: most tests wait on processes.
WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -n $(WORKERS) --dist loadfile

.PHONY: install lint typecheck test test-fast bench demo clean

install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,temporal,otel,ui]'
	touch $@

lint: install
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(PYTEST)

test-fast: install
	$(PYTEST) -m "not slow"

bench: install
	$(PY) benchmarks/bench_core.py

demo: install
	$(BIN)/stead run --offline examples/haiku.py:haiku "Tell me about recursion"

clean:
	rm -rf $(VENV) .stead .pytest_cache .mypy_cache .ruff_cache
