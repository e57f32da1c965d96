# The two commands a user needs: `make demo` and `make test`. Each does its own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test lint typecheck contracts unit kafka-jars clean deploy-tools readme graphviz debezium-tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) kafka-jars

kafka-jars: $(STAMP)
	$(BIN)/crm-bridge kafka fetch

demo: setup
	$(BIN)/crm-bridge demo

lint: $(STAMP)
	$(BIN)/ruff format --check bridge tests benchmarks
	$(BIN)/ruff check bridge tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy bridge

contracts: $(STAMP)
	$(BIN)/lint-imports

test: setup lint typecheck contracts deploy-tools graphviz debezium-tools
	$(BIN)/pytest --cov --cov-report=term:skip-covered

readme: $(STAMP)
	$(BIN)/crm-bridge config --write-readme README.md

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache .coverage

deploy-tools:
	deploy/check/install-tools.sh

# `crm-bridge catalog` draws its SVG diagrams with Graphviz's dot (Debian package; the Python binding is a dependency).
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  echo "installing graphviz (Debian package) for the catalog's SVG diagrams"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends graphviz >/dev/null; }

# The Debezium end-to-end test runs a real PostgreSQL (Debian package: initdb, pg_ctl, psql) and a Kafka Connect
# worker with Debezium's PostgreSQL connector (jars from Maven Central, kafka/connect/pom.xml, into .cache/connect).
debezium-tools:
	@{ command -v psql >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || { \
	  echo "installing postgresql (Debian package) for the Debezium test"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }
	@ls .cache/connect/lib/debezium-connector-postgres-*.jar >/dev/null 2>&1 || \
	  mvn -B -q -f kafka/connect/pom.xml org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
	    -DoutputDirectory=$(CURDIR)/.cache/connect/lib -DincludeScope=runtime
