# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: run test lint bench chromium clean

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $@

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false

# Debian's chromium (and CJK fonts for the 中文 screenshots) for the browser tests; playwright
# never downloads a browser here.
chromium:
	@test -x /usr/bin/chromium -a -d /usr/share/fonts/opentype/noto || { apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) chromium lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
