# The two commands of the README, and the steps they share.
#   make repro   set up .venv and the dataset, then run the pipeline (`dvc repro`)
#   make test    set up .venv (and, as root, PostgreSQL's binaries and Chromium), then run the tests
# Both are safe to re-run: set-up steps are skipped when already done.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: repro test setup dataset postgres browser lint lock

repro: setup dataset
	dvc repro

test: setup postgres browser
	pytest

setup: $(STAMP)

# Exact pins from requirements.lock, then this project (editable, no dependency changes).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# Fashion-MNIST's fastest source is Debian's package (see README, Data). Installing it
# needs root; without root `python -m pipeline fetch` falls back to the other sources.
dataset:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing dataset-fashion-mnist (Debian)"; \
		apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null || \
		echo "warning: could not install dataset-fashion-mnist; fetch will try the other sources"; \
	fi

# The PostgreSQL server binaries that tests/postgres.py starts a throw-away server from (the
# Optuna multi-worker tests; they skip without them). Installing them needs root; the tests
# run the server itself as the `postgres` user, on 127.0.0.1 and a free port.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing postgresql (Debian)"; \
		apt-get update -qq && apt-get install -y -qq postgresql >/dev/null || \
		echo "warning: could not install postgresql; the PostgreSQL tests will skip"; \
	fi

# Headless Chromium, which the browser tests (tests/test_mlflow_ui_browser.py, the report's)
# render pages with (they skip without it). Installing it needs root; pipeline.browser also
# finds chromium-browser or google-chrome when one of those is there instead.
browser:
	@if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && \
		! command -v google-chrome >/dev/null && [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium (Debian)"; \
			apt-get update -qq && apt-get install -y -qq chromium >/dev/null || \
			echo "warning: could not install chromium; the browser tests will skip"; \
		else \
			echo "warning: chromium is not installed and installing it needs root (apt-get install chromium); the browser tests will skip"; \
		fi; \
	fi

lint: setup
	ruff format --check .
	ruff check .

# Re-pin after editing requirements.txt: resolve in a scratch venv, freeze it.
lock:
	rm -rf /tmp/gan-zoo-lock && $(PYTHON) -m venv /tmp/gan-zoo-lock
	/tmp/gan-zoo-lock/bin/pip install --quiet -r requirements.txt
	{ echo "# Exact pins of every package the project installs (pip freeze of a working .venv)."; \
	  echo "# Regenerate with \`make lock\` after editing requirements.txt."; \
	  /tmp/gan-zoo-lock/bin/pip freeze; } > requirements.lock
