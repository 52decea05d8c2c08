# Parley: `make run` serves the demo, `make test` runs the whole suite. Both set up everything first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app webapp
HOST ?= 127.0.0.1
PORT ?= 5000
# `make test` runs the suite on one pytest-xdist worker per core; `make test PYTEST_ARGS="-k foo"` runs serially.
PYTEST_ARGS ?= -n auto

.PHONY: run test install lint migrate clean bench

# The virtualenv is rebuilt whenever pyproject.toml changes. The example provider plugin
# (examples/, a package of its own) is installed beside Parley, as a third-party plugin would be:
# the suite runs it through the provider conformance kit.
EXAMPLE_PLUGIN := examples/parley-example-sms
$(VENV)/.installed: pyproject.toml $(EXAMPLE_PLUGIN)/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]" -e $(EXAMPLE_PLUGIN)
	touch $@

install: $(VENV)/.installed

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	HOST=$(HOST) PORT=$(PORT) scripts/serve.sh

test: install
	scripts/ensure-chromium.sh
	$(BIN)/pytest $(PYTEST_ARGS)

# Style, then the layers (import-linter contracts in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo

# Generate a migration after a model change: make migrate MESSAGE="add x"
migrate: install
	$(FLASK) db migrate -m "$(MESSAGE)"

# Benchmark (docs/benchmarks.md): make bench SCALE=1k|10k|100k; PostgreSQL with DATABASE_URL=...
SCALE ?= 100k
bench: install
	command -v wrk >/dev/null || apt-get install -y wrk || (apt-get update && apt-get install -y wrk)
	$(BIN)/python scripts/bench.py --scale $(SCALE)

clean:
	rm -rf $(VENV) instance .pytest_cache
