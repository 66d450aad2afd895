# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed
PORT ?= 8501
# The CPU wheel of torch; the index is only needed where no local wheel lies (pip's find-links).
TORCH_SPEC := torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PYTEST := HF_HUB_OFFLINE=1 $(PY) -m pytest

.PHONY: run test test-fast lint format bench chromium clean

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) show torch 2>/dev/null | grep -x 'Version: 2.13.0+cpu' >/dev/null || \
		$(PIP) install --quiet --retries 1 --extra-index-url $(TORCH_INDEX) "$(TORCH_SPEC)" 2>&1 | grep -v "^WARNING" || true
	$(PIP) show torch | grep -x 'Version: 2.13.0+cpu' >/dev/null
	$(PIP) install --quiet -r requirements.txt -r requirements-dev.txt 2>&1 | grep -v "^WARNING: Location" || true
	$(PIP) install --quiet --no-deps -r requirements-nodeps.txt 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import sparse_core, streamlit, transformers, playwright"
	touch $@

run: $(STAMP)
	HF_HUB_OFFLINE=1 SPARSE_EXPLORER_ALLOW_LOCAL_MODELS=$${SPARSE_EXPLORER_ALLOW_LOCAL_MODELS:-1} MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2} \
		$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# Debian's chromium (and CJK fonts for the 中文 screenshots) for the browser tests; playwright
# never downloads a browser here.
chromium:
	@test -x /usr/bin/chromium -a -d /usr/share/fonts/opentype/noto || { apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Everything, browser tests included (CI runs this).
test: $(STAMP) chromium lint
	$(PYTEST)

# The quick loop: no real browser.
test-fast: $(STAMP) lint
	$(PYTEST) -m "not browser"

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m benchmarks.engine
	HF_HUB_OFFLINE=1 $(PY) -m benchmarks.explorer
	HF_HUB_OFFLINE=1 $(PY) -m benchmarks.inspector

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
