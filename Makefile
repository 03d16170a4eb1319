# pinlake: the two set-up commands are `make demo` and `make test` (both run `make setup`).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
JARS := .pinlake-jars
export PINLAKE_HOME ?= $(CURDIR)/.pinlake
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False

.PHONY: help setup demo test test-fast lint pytest bench docs airflow clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: $(VENV)/.installed $(JARS)/.resolved ## install the venv (requirements.lock) and the JVM jars (jvm/pom.xml)

$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v java >/dev/null || { echo "error: Java 17+ is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	@# bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (CI images, sandboxes)
	@# every Python process would otherwise compile Airflow, dbt and pyspark again (~4 s of CPU)
	$(BIN)/uv pip install -q -p $(BIN)/python --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install -q -p $(BIN)/python --no-deps -e .
	@touch $@

$(JARS)/.resolved: jvm/pom.xml
	@command -v mvn >/dev/null || { echo "error: Maven is required to resolve the jars (apt-get install maven)"; exit 1; }
	rm -rf $(JARS)/spark $(JARS)/kafka
	mvn -q -B -f jvm/pom.xml package -P spark
	mvn -q -B -f jvm/pom.xml package -P kafka
	@touch $@

demo: setup ## run the whole pipeline on the embedded default and print the results
	$(BIN)/pinlake demo

lint: setup ## ruff + sqlfluff (sparksql dialect, dbt templater)
	$(BIN)/ruff check ingestion tests dags bench
	$(BIN)/ruff format --check ingestion tests dags bench
	$(BIN)/sqlfluff lint models tests/dbt

pytest: setup ## every test: unit, Spark, dbt (one golden build), Kafka, Airflow
	$(BIN)/pytest

test-fast: setup ## the developer loop: everything but the end-to-end and fault tests
	$(BIN)/pytest -m "not slow"

test: lint pytest ## install, lint, run every test

bench: setup ## benchmarks (see bench/README.md)
	$(BIN)/python bench/bench_lakehouse.py
	$(BIN)/python bench/bench_stream.py

docs: setup ## generate and serve the dbt docs
	$(BIN)/pinlake dbt docs generate
	$(BIN)/pinlake dbt docs serve

airflow: setup ## start Airflow 3 standalone (repo dags/, AIRFLOW_HOME under PINLAKE_HOME)
	scripts/airflow_standalone.sh

clean: ## remove generated state (keeps the venv and jars)
	rm -rf .pinlake target logs
