# The targets here are exactly what the README and .ci/run call.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/uv/bin/uv)
HELM := $(CURDIR)/.tools/bin/helm
PY_PATHS := libs cli tests $(wildcard services)

.PHONY: install services tools lint typecheck test test-unit demo

$(UV):
	python3 -m venv $(CURDIR)/.tools/uv
	$(CURDIR)/.tools/uv/bin/pip install --quiet "uv==0.13.9"

# Installs every workspace package and the dev tools exactly as uv.lock pins them.
install: $(UV)
	$(UV) sync --locked --all-packages

# Makes sure the local RabbitMQ (with AMQP 1.0) and Redis answer; starts them if not.
services:
	bash scripts/ensure-services.sh

# Tools outside PyPI: helm (for the chart checks).
tools: $(HELM)
$(HELM):
	bash scripts/install-helm.sh

lint: install
	$(UV) run --locked ruff check $(PY_PATHS)
	$(UV) run --locked ruff format --check $(PY_PATHS)

typecheck: install
	$(UV) run --locked mypy $(PY_PATHS)

# The README's test command: lint, type check, every test layer.
test: lint typecheck tools services
	$(UV) run --locked pytest

# Fast feedback while coding: unit tests only.
test-unit: install
	$(UV) run --locked pytest -m unit -q

# The README's run command: every service, an in-memory bus, in-process Redis and the KPR
# simulator in one process; intake on http://127.0.0.1:8080 (Ctrl-C stops it).
demo: install
	$(UV) run --locked kprgw demo
