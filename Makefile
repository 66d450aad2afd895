# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# The installer: uv, pinned with its hashes (requirements-uv.txt), put into the venv by the machine's
# own pip. It installs the locked sets (every package pinned, every file's hash checked):
#   requirements.lock      the app (make run)
#   requirements-dev.lock  the app + test and lint tools (make test)
# Both are generated from requirements*.txt by `make lock`.
UV_DIR := $(VENV)/.uv
UV := $(UV_DIR)/bin/uv
export UV_PYTHON_DOWNLOADS := never
# The CPU wheel of torch: from a local wheel folder where one holds torch 2.13.0+cpu, else from the
# PyTorch CPU index. Either way the lock admits exactly one file (its sha256), so no machine can
# install a multi-GB CUDA build.
TORCH_WHEELS ?= /opt/wheels
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_SOURCE := $(if $(wildcard $(TORCH_WHEELS)/torch-2.13.0+cpu-*.whl),--find-links $(TORCH_WHEELS),--extra-index-url $(TORCH_INDEX))
UV_PIP := $(UV) pip --quiet
UV_INSTALL := $(UV_PIP) install --python $(PY) --require-hashes --no-deps $(TORCH_SOURCE)
# The project itself, editable (console script `sparse-attention`), built with the locked setuptools.
INSTALL_SELF := $(UV_PIP) install --python $(PY) --no-deps --no-build-isolation --no-index -e .
STAMP_APP := $(VENV)/.installed-app
STAMP_DEV := $(VENV)/.installed-dev
PYTEST := HF_HUB_OFFLINE=1 $(PY) -m pytest

.PHONY: run test test-serial test-fast lint typecheck format bench chromium lock clean

$(UV): requirements-uv.txt
	test -x $(PY) || python3 -m venv --without-pip $(VENV)
	python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --upgrade \
		--require-hashes --target $(UV_DIR) -r requirements-uv.txt 2>&1 | grep -v "^WARNING" || true
	$(UV) --version
	touch $@

# What `make run` needs: the app's lock (installs, never removes: test tools stay if present). The
# check reads torch's version without importing it: the server imports it once, at start (serve.py).
$(STAMP_APP): $(UV) requirements.lock pyproject.toml
	$(UV_INSTALL) -r requirements.lock
	$(INSTALL_SELF)
	$(PY) -c "from importlib.metadata import version as v; import sparse_core; assert v('torch') == '2.13.0+cpu', v('torch')"
	touch $@

# What `make test` needs: exactly the dev lock (packages outside it are removed), compiled to bytecode
# once: where PYTHONDONTWRITEBYTECODE is set, every test process recompiled torch, streamlit and sympy
# (test-fast 162 -> 128 CPU-s measured).
$(STAMP_DEV): $(UV) requirements-dev.lock pyproject.toml
	$(UV_PIP) sync --python $(PY) --require-hashes --compile-bytecode $(TORCH_SOURCE) requirements-dev.lock
	$(INSTALL_SELF)
	$(PY) -c "import sparse_core, streamlit, transformers, playwright, torch; assert torch.__version__ == '2.13.0+cpu', torch.__version__"
	touch $@ $(STAMP_APP)

# serve.py serves app.py (st.App): page modules imported at start, /_stcore/metrics closed,
# unknown nested paths redirected to their page.
# One user on their own machine: texts up to SmolLM2's context (8,192 tokens) in the Inspector and the Lab,
# and a per-request CPU budget that admits an 8,192-token inspection (priced ~204 CPU-s) and a Lab run of up to
# 3 structured rows at 8,192 (one row measured 403 CPU-s); a class server
# keeps the code's defaults (README, "Deploying for a class").
run: $(STAMP_APP)
	HF_HUB_OFFLINE=1 SPARSE_EXPLORER_ALLOW_LOCAL_MODELS=$${SPARSE_EXPLORER_ALLOW_LOCAL_MODELS:-1} MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2} \
		SPARSE_EXPLORER_MAX_INSPECTOR_TOKENS=$${SPARSE_EXPLORER_MAX_INSPECTOR_TOKENS:-8192} \
		SPARSE_EXPLORER_MAX_LAB_TOKENS=$${SPARSE_EXPLORER_MAX_LAB_TOKENS:-8192} \
		SPARSE_EXPLORER_BUDGET_LAB_CPU_SECONDS=$${SPARSE_EXPLORER_BUDGET_LAB_CPU_SECONDS:-600} \
		$(PY) -m streamlit run serve.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# Debian's chromium (and CJK fonts for the 中文 screenshots) for the browser tests; playwright
# never downloads a browser here.
chromium:
	@test -x /usr/bin/chromium -a -d /usr/share/fonts/opentype/noto || { apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null; }

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy on the engine (config in pyproject.toml [tool.mypy]); part of `make test`.
typecheck: $(STAMP_DEV)
	$(VENV)/bin/mypy

format: $(STAMP_DEV)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Everything, browser tests included (CI runs this), on both cores: pytest-xdist with --dist loadfile keeps a
# file's tests in one worker, so its module-scoped servers and models are built once. Tests marked `timing`
# assert a CPU-time or wall-clock bound; a second worker busy on the other core inflates those (a 2.0 s bound
# read 2.01 s), so they run afterwards, alone. `make test-serial` runs everything in one process.
test: $(STAMP_DEV) chromium lint typecheck
	$(PYTEST) -n 2 --dist loadfile -m "not timing"
	$(PYTEST) -m timing

test-serial: $(STAMP_DEV) chromium lint typecheck
	$(PYTEST)

# The quick loop: no real browser, no pretrained model, no `slow` sweep, a fifth of each property test's
# examples (tests/conftest.py); `make test` runs all of them in full. SPARSE_TEST_CPU=<file> logs each test's
# CPU seconds.
test-fast: $(STAMP_DEV) lint
	SPARSE_TEST_FAST=1 SPARSE_WALK_STEPS=100 SPARSE_WALK_SEEDS=1 $(PYTEST) -m "not browser and not model and not slow"

bench: $(STAMP_DEV)
	HF_HUB_OFFLINE=1 $(PY) -m benchmarks.engine
	HF_HUB_OFFLINE=1 $(PY) -m benchmarks.explorer
	HF_HUB_OFFLINE=1 $(PY) -m benchmarks.inspector

# Regenerate the locks from requirements*.txt (after changing a pin there). The weight carriers of
# requirements-nodeps.txt are locked without their dependencies; the app lock is constrained to the
# dev lock's versions, so `make run` and `make test` see the same packages.
LOCK_FLAGS := --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes --quiet \
	--no-header $(TORCH_SOURCE)
lock: $(UV)
	$(UV) pip compile $(LOCK_FLAGS) -o requirements-dev.lock requirements.txt requirements-dev.txt
	$(UV) pip compile $(LOCK_FLAGS) --no-deps -o .nodeps.lock requirements-nodeps.txt
	$(UV) pip compile $(LOCK_FLAGS) -c requirements-dev.lock -o requirements.lock requirements.txt
	for f in requirements.lock requirements-dev.lock; do \
		{ echo "# Generated by \`make lock\` from requirements*.txt: do not edit. Installed with hashes checked,"; \
		  echo "# without resolving (weight carriers of requirements-nodeps.txt come without their dependencies)."; \
		  cat $$f .nodeps.lock; } > $$f.tmp && mv $$f.tmp $$f; done
	rm -f .nodeps.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
