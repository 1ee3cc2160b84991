# The targets here are exactly what the README and .ci/run call.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/uv/bin/uv)
HELM := $(CURDIR)/.tools/bin/helm
KUBECTL := $(CURDIR)/.tools/bin/kubectl
PY_PATHS := libs cli tests bench $(wildcard services)

.PHONY: install services tools lint typecheck test test-unit demo chart-check up down bench chaos

$(UV):
	python3 -m venv $(CURDIR)/.tools/uv
	$(CURDIR)/.tools/uv/bin/pip install --quiet "uv==0.13.9"

# Installs every workspace package and the dev tools exactly as uv.lock pins them.
install: $(UV)
	$(UV) sync --locked --all-packages

# Makes sure the local RabbitMQ (with AMQP 1.0) and Redis answer; starts them if not.
services:
	bash scripts/ensure-services.sh

# Tools outside PyPI: helm and kubectl (its kustomize), for the chart checks.
tools: $(HELM) $(KUBECTL)
$(HELM) $(KUBECTL):
	bash scripts/install-k8s-tools.sh

lint: install
	$(UV) run --locked ruff check $(PY_PATHS)
	$(UV) run --locked ruff format --check $(PY_PATHS)

typecheck: install
	$(UV) run --locked mypy $(PY_PATHS)

# Offline checks of the Helm chart, k8s/, skaffold.yaml and the Dockerfile (helm lint --strict,
# helm template, kubernetes-validate --strict, yamllint, assertions on the rendered YAML).
chart-check: install tools
	$(UV) run --locked pytest tests/unit/chart -q

# The README's test command: lint, type check, the chart checks, every test layer.
test: lint typecheck chart-check services
	$(UV) run --locked pytest --ignore=tests/unit/chart

# Fast feedback while coding: unit tests only.
test-unit: install
	$(UV) run --locked pytest -m unit -q

# The README's run command: every service, an in-memory bus, in-process Redis and the KPR
# simulator in one process; intake on http://127.0.0.1:8080 (Ctrl-C stops it).
demo: install
	$(UV) run --locked kprgw demo

# Every service and the simulator as separate processes on the local RabbitMQ and Redis
# (state and logs in .run/); `make down` drains and stops them and removes their queues.
up: install services
	$(UV) run --locked kprgw local up

down: $(UV)
	$(UV) run --locked kprgw local down

# Throughput and latency figures (printed, and written to bench/results/latest.json;
# never asserted in tests).
bench: install services
	$(UV) run --locked python -m bench

# The chaos run, full schedule: the gateway as processes under load while services are killed
# (at random and at named crash points), broker connections closed, Redis paused and the
# simulator misbehaving; then the invariants (exit 1 if one fails). Table printed and written
# to bench/results/chaos.json; a few minutes (bench/README.md, "Chaos run").
chaos: install services
	$(UV) run --locked python -m bench.chaos --schedule full
