# The two commands a newcomer needs are `make run` and `make test`; everything else is a step of them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= config.yml

.PHONY: run test install prereqs browser model lint bench clean rasa-env test-rasa rasa-sdk-env

run: install model
	$(BIN)/relaydesk run --config $(CONFIG)

# Lint and type-check first: they take seconds and fail with the clearest messages.
# The tests run on two pytest-xdist workers, a test module on one worker, the fault tests, the
# browser tests and the modules on the shared Redis one at a time (tests/conftest.py);
# TEST_WORKERS=0 runs them in this one process.
TEST_WORKERS ?= 2
test: install prereqs browser rasa-sdk-env
	$(BIN)/ruff check bot handoff connectors tests bench
	$(BIN)/mypy bot handoff connectors
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

install: $(STAMP)

# PostgreSQL (trust auth on 127.0.0.1:5432, and its server binaries for the fault tests) and Redis
# (127.0.0.1:6379): installed with apt-get and started when missing, else named on one line.
# With CI=true a missing one fails here, and the tests that need it fail instead of skipping.
prereqs: install
	PYTHON=$(BIN)/python scripts/prereqs.sh

# The browser tests drive Debian's Chromium through Playwright (Playwright's own browser download
# cannot reach its servers from here, and is not needed).
# fonts-noto-cjk: without it Chinese renders as empty boxes in the screenshots.
browser:
	test -x /usr/bin/chromium && test -d /usr/share/fonts/opentype/noto || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk)

# Reinstall whenever the declared dependencies change. torch is installed first, pinned to the CPU
# build, so that sentence-transformers never drags in a multi-GB GPU build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# Trains only when the training data or the pipeline changed (the model carries their fingerprint),
# and re-embeds only the knowledge articles that changed.
model: install
	$(BIN)/relaydesk train --config $(CONFIG)
	$(BIN)/relaydesk kb index --config $(CONFIG)

# Rasa Open Source, for the interoperability tests (tests marked rasa) and bench/vs_rasa.py only:
# its own Python 3.10 environment, never a dependency of relaydesk's. Building it takes about
# 3 minutes and 2.7 GB, so `make test` does not: without it those tests skip, saying so.
RASA_VERSION := 3.6.21
RASA_VENV    := .venv-rasa
RASA_STAMP   := $(RASA_VENV)/.installed-$(RASA_VERSION)
RASA_PYTHON  ?= $(or $(wildcard $(HOME)/.pyenv/versions/3.10.13/bin/python),$(shell command -v python3.10))

rasa-env: $(RASA_STAMP)

$(RASA_STAMP):
	@test -n "$(RASA_PYTHON)" || { echo "rasa-env: Rasa $(RASA_VERSION) needs Python 3.10; set RASA_PYTHON=/path/to/python3.10" >&2; exit 1; }
	test -x $(RASA_VENV)/bin/python || $(RASA_PYTHON) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/python -m pip install --quiet rasa==$(RASA_VERSION) jieba
	touch $(RASA_STAMP)

# The Rasa SDK (rasa_sdk), for the custom-action tests (tests/bot/dialogue/test_actions.py start a
# real action server with it): its own Python 3.11 environment, never a dependency of relaydesk's.
# About 30-50 s and 100 MB, so `make test` builds it; the tests find it in $(RASA_SDK_VENV).
RASA_SDK_VERSION := 3.21.1
RASA_SDK_VENV    := .venv-rasa-sdk
RASA_SDK_STAMP   := $(RASA_SDK_VENV)/.installed-$(RASA_SDK_VERSION)
RASA_SDK_PYTHON  ?= $(or $(wildcard $(HOME)/.pyenv/versions/3.11.7/bin/python),$(shell command -v python3.11),$(shell command -v python3.10))

rasa-sdk-env: $(RASA_SDK_STAMP)

$(RASA_SDK_STAMP):
	@test -n "$(RASA_SDK_PYTHON)" || { echo "rasa-sdk-env: rasa-sdk $(RASA_SDK_VERSION) needs Python 3.10 or 3.11; set RASA_SDK_PYTHON=/path/to/python3.11" >&2; exit 1; }
	test -x $(RASA_SDK_VENV)/bin/python || $(RASA_SDK_PYTHON) -m venv $(RASA_SDK_VENV)
	$(RASA_SDK_VENV)/bin/python -m pip install --quiet rasa-sdk==$(RASA_SDK_VERSION)
	touch $(RASA_SDK_STAMP)

# Trains a Rasa model on nlu_data/ (cached in var/rasa-cache/ by data and config), starts
# `rasa run --enable-api` and runs the tests against it.
test-rasa: install rasa-env
	RELAYDESK_RASA_BIN=$(abspath $(RASA_VENV))/bin/rasa $(BIN)/python -m pytest -m rasa $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check bot handoff connectors tests bench
	$(BIN)/ruff format --check bot handoff connectors tests bench
	$(BIN)/mypy bot handoff connectors
	$(BIN)/lint-imports

bench: install model
	$(BIN)/python bench/nlu.py

clean:
	rm -rf $(VENV) $(RASA_SDK_VENV) var models .pytest_cache
