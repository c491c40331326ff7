# Two commands: `make run` (serve the demo) and `make test`. Everything else is set up by them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test check install schema migrations lock vendor-graphiql bench-page bench-instructions bench-subscriptions bench-console bench-export screenshots audit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Pinned by constraints.txt so every machine gets the same versions.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	GATEWAY_DEBUG=$${GATEWAY_DEBUG:-1} $(BIN)/gateway serve --demo

test: install
	$(BIN)/pytest

# Static checks, as CI runs them: lint, formatting, types.
check: install
	$(BIN)/ruff check gateway tests bench tools
	$(BIN)/ruff format --check gateway tests bench tools
	$(BIN)/mypy

schema: install
	$(BIN)/gateway export-schema --output schema.graphql

migrations: install
	$(BIN)/tortoise -c gateway.db.TORTOISE_ORM makemigrations

# GraphiQL's files at the versions Strawberry's page pins, from the npm registry (after
# upgrading Strawberry; tests/test_graphiql.py says when).
vendor-graphiql: install
	$(BIN)/python tools/vendor_graphiql.py

# The console's screens on the demo data at a fixed anchor, desktop and 375 px, into
# docs/screenshots/ (needs chromium and chromium-driver: apt-get install -y chromium chromium-driver).
screenshots: install
	$(BIN)/python tools/screenshots.py

# Re-pin after changing dependencies in pyproject.toml.
lock:
	rm -rf /tmp/gateway-lock-venv && $(PYTHON) -m venv /tmp/gateway-lock-venv
	/tmp/gateway-lock-venv/bin/pip install --quiet -e '.[test]'
	/tmp/gateway-lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

# Flags pass through: make bench-page BENCH_ARGS="--skip-seed --db-url postgres://..."
bench-page: install
	$(BIN)/python bench/page.py $(BENCH_ARGS)

# Instructions per page under callgrind (valgrind), on the data bench-page seeded.
bench-instructions: install
	$(BIN)/python bench/instructions.py $(BENCH_ARGS)

# Its client workers are Node.js (bench/node, the ws library), installed from the committed lock
# file when node_modules is missing or older than it.
BENCH_NODE_STAMP := bench/node/node_modules/.package-lock.json
$(BENCH_NODE_STAMP): bench/node/package-lock.json
	npm ci --prefix bench/node --no-audit --no-fund
	touch $@

# How soon the console shows My Apps in headless Chromium (the goal: 1 s).
bench-console: install
	$(BIN)/python bench/console.py $(BENCH_ARGS)

# The App log export over 1,000,000 entries on PostgreSQL: rows/s and the server's RSS growth
# (goals: over 50,000 rows/s, under 50 MiB). BENCH_ARGS="--skip-seed" reuses the seeded data.
bench-export: install
	$(BIN)/python bench/export.py $(BENCH_ARGS)

bench-subscriptions: install $(BENCH_NODE_STAMP)
	$(BIN)/python bench/subscriptions.py $(BENCH_ARGS)

audit: install
	bash .ci/audit.sh
