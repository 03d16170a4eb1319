# pinlake: the two set-up commands are `make demo` and `make test` (both run `make setup`).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# `make docs` serves the dbt docs here: not dbt's 8080, Airflow's (`make airflow`)
DOCS_PORT ?= 8580
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# The JVM artifacts: where pinlake reads them (PINLAKE_JARS_DIR, Settings.jars_dir), default
# .pinlake-jars; one folder can serve several clones. make cannot name a file whose path holds a blank.
JARS := $(or $(PINLAKE_JARS_DIR),.pinlake-jars)
ifneq ($(words $(JARS)),1)
$(error PINLAKE_JARS_DIR='$(PINLAKE_JARS_DIR)': make cannot use a path that holds a blank; choose another folder)
endif
# pinlake's own jars, compiled from jvm/ (pinlake.spark.OWN_JARS names the same two)
HADOOP_LOCAL_JAR := $(JARS)/spark/pinlake-hadoop-local.jar
HADOOP_LOCAL_SRC := $(wildcard jvm/hadoop/pinlake/hadoop/*.java)
AWS_SDK_SLF4J_JAR := $(JARS)/spark/pinlake-aws-sdk-slf4j.jar
AWS_SDK_SLF4J_SRC := $(wildcard jvm/aws-sdk-slf4j/org/slf4j/impl/*.java)
OWN_JARS := $(HADOOP_LOCAL_JAR) $(AWS_SDK_SLF4J_JAR)
export PINLAKE_HOME ?= $(CURDIR)/.pinlake
export DO_NOT_TRACK := 1
# Python writes the bytecode of the project's own modules (ingestion/src, tests, dags: git-ignored
# __pycache__ folders) and pytest its rewritten test modules: where PYTHONDONTWRITEBYTECODE is set
# (CI images, sandboxes) every xdist worker, `pinlake` command and DAG process compiled them again
# from source (the fast loop: 275.5 against 239.3 busy CPU-s; bench/README.md, "Bytecode")
unexport PYTHONDONTWRITEBYTECODE
# pinlake's Spark is the pyspark wheel's, with jars for it: a shell's SPARK_HOME (another Spark
# install) would make PySpark, in sqlfluff's dbt templater, launch that one instead, and its
# PYSPARK_SUBMIT_ARGS add a notebook's --packages (pinlake.spark.launcher_env sets both); its
# PYTHONPATH (Spark's python/ and py4j zip) would put that Spark's pyspark before the venv's in
# pytest, the templater and Airflow's tasks (the pinlake command drops such entries itself:
# pinlake.__main__.own_spark_python_path); a Spark Connect user's variables would make the
# templater's dbt session a Connect one (pinlake.spark.SPARK_CONNECT_VARIABLES)
unexport SPARK_HOME PYSPARK_SUBMIT_ARGS PYTHONPATH
unexport SPARK_REMOTE SPARK_CONNECT_MODE_ENABLED SPARK_LOCAL_REMOTE SPARK_API_MODE
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
# Two jobs at once: set-up's independent parts side by side (the venv beside Maven; the lint beside
# the class-data archive, whose JVM keeps one core busy), so that on 2 cores `make test` spends
# less time waiting on one. `make -j1 …` runs them one after the other.
MAKEFLAGS += -j2

.PHONY: help setup spark-cds jars-link mariadb chromium lock demo test test-fast lint pytest bench docs airflow clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

setup: $(VENV)/.installed $(JARS)/.resolved $(OWN_JARS) spark-cds jars-link mariadb chromium ## install the venv (requirements.lock), the JVM jars (jvm/pom.xml), the Spark driver's class-data archive, MariaDB, Chromium

$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v java >/dev/null || { echo "error: Java 17+ is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	@# bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (CI images, sandboxes)
	@# every Python process would otherwise compile Airflow, dbt and pyspark again (~4 s of CPU)
	$(BIN)/uv pip install -q -p $(BIN)/python --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install -q -p $(BIN)/python --no-deps -e .
	@touch $@

# Maven 3.8 (Debian's) writes ANSI resets even in batch mode (-B); they are stripped here so that
# logs and CI output stay plain (its exit code still decides: SHELLFLAGS has pipefail).
MVN := mvn -q -B -f jvm/pom.xml -Djars.dir="$(abspath $(JARS))"
PLAIN := sed -u 's/\x1b\[[0-9;]*m//g'

# .resolved holds the digest of the pom.xml it was resolved from: a clone whose pom.xml is only
# newer (each clone's files are) does not remove and resolve again the jars other clones use (the
# recipe then leaves .resolved as it is, so nothing after it is made again).
POM_DIGEST = sha256sum < jvm/pom.xml | cut -d' ' -f1
$(JARS)/.resolved: jvm/pom.xml
	@if [ "$$(cat $@ 2>/dev/null)" = "$$($(POM_DIGEST))" ]; then exit 0; fi; \
	command -v mvn >/dev/null || { echo "error: Maven is required to resolve the jars (apt-get install maven)"; exit 1; }; \
	echo "rm -rf $(JARS)/spark $(JARS)/kafka $(JARS)/metastore $(JARS)/cds"; \
	rm -rf $(JARS)/spark $(JARS)/kafka $(JARS)/metastore $(JARS)/cds; mkdir -p $(JARS); \
	for profile in spark s3 kafka metastore; do \
	  echo '$(MVN) package -P '$$profile; $(MVN) package -P $$profile 2>&1 | $(PLAIN); \
	done; \
	$(POM_DIGEST) > $@

# pinlake's own jars, each compiled from its jvm/ folder against the jars pyspark ships, into the
# folder on every Spark class path: jvm/hadoop, Hadoop's local file system over NIO instead of forking
# chmod/readlink; jvm/aws-sdk-slf4j, the SLF4J 1.x binding the AWS SDK bundle looks for (its log
# events to Spark's log4j2 instead of an "SLF4J: Failed to load class" warning and nowhere).
# A jar is compiled again only when what it is made from changed: its sources, the pyspark it is
# compiled against and javac (their digest, kept beside its classes). make's own test, a newer
# prerequisite, holds in every new clone (its venv is new), and a jar written again, the same
# classes, has a new time: clones that share one PINLAKE_JARS_DIR made each other's class-data
# archive stale (its key holds each jar's time: pinlake.spark_cds) and Spark started without one.
# The classes go to a folder of this make's own (two clones' set-ups at once), the jar is written
# beside and renamed into place: a Spark starting meanwhile reads a whole one.
jar_classes = $(JARS)/classes/$(basename $(notdir $@))
jar_digest = { for f in $(filter %.java,$^); do echo "$$f"; cat "$$f"; done; \
  $(BIN)/python -c 'import pyspark; print(pyspark.__version__)'; javac -version 2>&1; } | sha256sum | cut -d' ' -f1
define compile_jar
	@command -v javac >/dev/null || { echo "error: a JDK is required to compile $(dir $<) (apt-get install openjdk-17-jdk-headless)"; exit 1; }
	@digest=$$($(jar_digest)); \
	if [ -f $@ ] && [ "$$(cat $(jar_classes).digest 2>/dev/null)" = "$$digest" ]; then exit 0; fi; \
	classes=$(jar_classes).$$$$; rm -rf $$classes; mkdir -p $$classes; \
	echo "javac -d $$classes $(filter %.java,$^)"; \
	javac -nowarn -d $$classes -cp "$$($(BIN)/python -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')/jars/*" $(filter %.java,$^); \
	echo "jar cf $@"; jar cf $@.$$$$.tmp -C $$classes .; mv -f $@.$$$$.tmp $@; rm -rf $$classes; \
	echo "$$digest" > $(jar_classes).digest
endef
$(HADOOP_LOCAL_JAR): $(HADOOP_LOCAL_SRC) $(VENV)/.installed $(JARS)/.resolved
	$(compile_jar)
$(AWS_SDK_SLF4J_JAR): $(AWS_SDK_SLF4J_SRC) $(VENV)/.installed $(JARS)/.resolved
	$(compile_jar)

# The Spark driver's class-data archive (pinlake.spark_cds): every Spark session maps it and starts
# on less CPU. Written once per JVM and jar set (about a minute); a second's check after that.
spark-cds: $(VENV)/.installed $(JARS)/.resolved $(OWN_JARS)
	@$(BIN)/python -m pinlake.spark_cds_build

# a set-up into another folder (PINLAKE_JARS_DIR) links .pinlake-jars to it, so that this clone's
# commands, which read .pinlake-jars unless PINLAKE_JARS_DIR says otherwise, find the jars without
# the variable (a trial's commands without it asked for `make setup` again); a .pinlake-jars
# folder of its own is left as it is, with a note
JARS_LINK := .pinlake-jars
jars-link:
	@target="$(abspath $(JARS))"; \
	if [ "$$target" = "$(abspath $(JARS_LINK))" ]; then exit 0; fi; \
	if [ -e $(JARS_LINK) ] && [ ! -L $(JARS_LINK) ]; then \
	  echo "note: $(JARS_LINK) is a folder of its own: this clone's commands read it unless PINLAKE_JARS_DIR=$$target is set"; \
	elif [ "$$(readlink $(JARS_LINK))" != "$$target" ]; then \
	  ln -sfn "$$target" $(JARS_LINK); \
	  echo "linked $(JARS_LINK) -> $$target: this clone's commands find the jars without PINLAKE_JARS_DIR"; \
	fi

# The MariaDB source (PINLAKE_SOURCE_DB=mariadb, tests/ingestion/test_mariadb_source.py) runs the
# OS package's server. Installed here only when it is missing, and only as root (like CI); else
# the one command to run is printed, and the MariaDB tests fail with the same message.
MARIADB_INSTALL := apt-get install -y mariadb-server
# The OS package installs below take turns (make runs set-up's parts side by side; apt-get and
# dpkg refuse a second instance): flock (util-linux) on one lock file.
APT := flock /var/lock/pinlake-apt.lock
mariadb: ## install the MariaDB server from the OS packages when missing (as root)
	@if command -v mariadbd >/dev/null || test -x /usr/sbin/mariadbd; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing the MariaDB server: apt-get update && $(MARIADB_INSTALL)"; \
	  $(APT) sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(MARIADB_INSTALL) -qq >/dev/null' \
	  || echo "warning: installing MariaDB failed; run: $(MARIADB_INSTALL)"; \
	else echo "note: the MariaDB source and its tests need the server; run: sudo $(MARIADB_INSTALL)"; fi

# The report test (tests/integration/test_report_browser.py) opens `pinlake report` and the dbt
# docs in the OS package's headless Chromium (Playwright drives it; no browser download). Installed
# like MariaDB: only when missing, only as root; else the one command to run is printed.
CHROMIUM_INSTALL := apt-get install -y chromium
chromium: ## install headless Chromium from the OS packages when missing (as root)
	@if command -v chromium >/dev/null || test -x /usr/bin/chromium; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Chromium: apt-get update && $(CHROMIUM_INSTALL)"; \
	  $(APT) sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(CHROMIUM_INSTALL) -qq >/dev/null' \
	  || echo "warning: installing Chromium failed; run: $(CHROMIUM_INSTALL)"; \
	else echo "note: the report's browser test needs Chromium; run: sudo $(CHROMIUM_INSTALL)"; fi

# requirements.lock is compiled from pyproject.toml (every extra) with the pinned uv; existing
# pins are kept unless pyproject.toml needs another version.
lock: $(VENV)/.installed ## recompile requirements.lock after a change to pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --all-extras --no-header -q -p $(BIN)/python -o requirements.lock

demo: setup ## run the whole pipeline on the embedded default and print the results
	$(BIN)/pinlake demo

lint: $(VENV)/.installed ## ruff + sqlfluff (sparksql dialect, dbt templater)
	$(BIN)/ruff check ingestion tests dags bench
	$(BIN)/ruff format --check ingestion tests dags bench
	@# the dbt templater's `lint` target starts a short Spark session: conf/spark-env.sh keeps the
	@# JDK's start-up line off the terminal, as for pinlake's sessions, through a path without
	@# blanks (Spark's launcher sources it unquoted: pinlake.blank_free.blank_free_path)
	SPARK_CONF_DIR="$$($(BIN)/python -c 'import sys; from pinlake.blank_free import blank_free_path; print(blank_free_path(sys.argv[1]))' "$(CURDIR)/ingestion/src/pinlake/conf")" \
		$(BIN)/sqlfluff lint models tests/dbt

# Under `make test` pytest starts after the lint: on a fresh clone the lint still runs beside
# set-up's class-data archive, and where set-up is done already its lines (sqlfluff's templater)
# no longer land among pytest's.
# It ends with the ten longest set-ups, calls and tear-downs: where a run's time went (the golden
# run's set-up, the scale-out stack's, the stream path's), to compare across runs and machines.
pytest: setup $(if $(filter test,$(MAKECMDGOALS)),lint) ## every test: unit, Spark, dbt (one golden build), Kafka, Airflow
	$(BIN)/pytest --durations=10

test-fast: setup ## the developer loop: everything but the end-to-end, fault and Spark tests
	$(BIN)/pytest -m "not slow"

test: lint pytest ## install, lint, run every test

bench: setup ## benchmarks (see bench/README.md)
	$(BIN)/python bench/bench_lakehouse.py
	$(BIN)/python bench/bench_stream.py
	$(BIN)/python bench/bench_scale_out.py

docs: setup ## generate and serve the dbt docs
	$(BIN)/pinlake dbt docs generate
	$(BIN)/pinlake dbt docs serve --port $(DOCS_PORT)

airflow: setup ## start Airflow 3 standalone (repo dags/, AIRFLOW_HOME under PINLAKE_HOME)
	scripts/airflow_standalone.sh

clean: ## remove generated state (keeps the venv and jars)
	rm -rf .pinlake target logs
