#!/usr/bin/env bash
# `make airflow`: Airflow 3 standalone for pinlake, with state under PINLAKE_HOME.
#
#   AIRFLOW_HOME     $PINLAKE_HOME/airflow (airflow.cfg, sqlite metadata DB, logs, generated password)
#   executor, DB     LocalExecutor, that SQLite file; a shell's settings for another Airflow
#                    (its AIRFLOW_HOME, executor, DB, plugins, secrets, remote logs) are ignored
#                    with a note
#   DAGs folder      this repository's dags/ (no example DAGs)
#   dbt manifest     `dbt parse` writes it (default target/manifest.json; PINLAKE_DBT_MANIFEST
#                    overrides) so Cosmos renders each model as a task without running dbt
#   pool             pinlake_spark, 1 slot: embedded Spark + Derby metastore tasks never overlap
#   telemetry        off (Airflow, Cosmos, dbt)
#
# The pinterest_batch and pinterest_stream DAGs need the services of the same PINLAKE_HOME:
# `pinlake services up`. AIRFLOW__API__PORT moves the UI/API off 8080; AIRFLOW__API__HOST is
# 127.0.0.1 (loopback only, as every pinlake service) unless set. PINLAKE_AIRFLOW_DRY_RUN=1
# prints what would run (the banner) and exits.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$REPO/.venv/bin"
export PATH="$BIN:$PATH"  # `airflow standalone` starts its components as `airflow ...`

export PINLAKE_HOME="${PINLAKE_HOME:-$REPO/.pinlake}"
# Airflow standalone on this home: its state in $PINLAKE_HOME/airflow, LocalExecutor, a SQLite
# metadata DB there, the repository's DAGs, whatever the shell names for another Airflow (its
# CeleryExecutor crashed standalone; its database was migrated by this script: helper-68). A
# data engineer's AIRFLOW_HOME (~/airflow) holds that Airflow's airflow.cfg and its SQLite DB,
# which `airflow db migrate` would have migrated to Airflow 3 and filled with pinlake's runs; its
# plugins, secrets backend and remote logging would have loaded that Airflow's code, looked up
# connections in its secrets store and shipped pinlake's task logs to its bucket. One note each,
# the variable's name only (a connection holds a password); none for a value the script sets too
# (a shell that exported the banner's CLI line).
# the metadata DB's URL: SQLAlchemy reads %XX in a URL as an escape and ? as its query's start,
# so a home /tmp/x%41y put the DB in /tmp/xAy (pinlake.config.sqlite_url does the same for the
# source database)
AIRFLOW_DB_URL_PATH="${PINLAKE_HOME//\%/%25}/airflow/airflow.db"
AIRFLOW_DB_URL_PATH="${AIRFLOW_DB_URL_PATH//\?/%3F}"
declare -A AIRFLOW_WANTED=(
    [AIRFLOW_HOME]="$PINLAKE_HOME/airflow"
    [AIRFLOW_CONFIG]="$PINLAKE_HOME/airflow/airflow.cfg"
    [AIRFLOW__CORE__DAGS_FOLDER]="$REPO/dags"
    [AIRFLOW__CORE__EXECUTOR]=LocalExecutor
    [AIRFLOW__DATABASE__SQL_ALCHEMY_CONN]="sqlite:///$AIRFLOW_DB_URL_PATH"
    # the banner's login: the simple auth manager's generated password (another Airflow's FAB
    # one is not installed here: helper-69)
    [AIRFLOW__CORE__AUTH_MANAGER]=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
)
AIRFLOW_IGNORED=(AIRFLOW_HOME AIRFLOW_CONFIG AIRFLOW__CORE__EXECUTOR AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET
    AIRFLOW__CORE__AUTH_MANAGER AIRFLOW__CORE__DAGS_FOLDER AIRFLOW__CORE__PLUGINS_FOLDER
    AIRFLOW__LOGGING__BASE_LOG_FOLDER)
mapfile -t -O "${#AIRFLOW_IGNORED[@]}" AIRFLOW_IGNORED < <(compgen -e | grep -E '^AIRFLOW__(SECRETS__|LOGGING__REMOTE_)' | sort)
# the banner's CLI line unsets them too (`env -u`): pasted into this shell, Airflow's CLI read
# them, and the other Airflow's secrets backend or remote logging ended it in a traceback
# (helper-73); the four it sets itself need no -u
CLI_UNSET=""
for name in "${AIRFLOW_IGNORED[@]}"; do
    if [[ -n "${!name:-}" && "${!name}" != "${AIRFLOW_WANTED[$name]:-}" ]]; then
        case "$name" in
            AIRFLOW_HOME | AIRFLOW_CONFIG | AIRFLOW__CORE__DAGS_FOLDER | AIRFLOW__DATABASE__SQL_ALCHEMY_CONN) ;;
            *) CLI_UNSET+="-u $name " ;;
        esac
        case "$name" in
            AIRFLOW_HOME | AIRFLOW_CONFIG) what="keeps Airflow's state and airflow.cfg in \$PINLAKE_HOME/airflow (PINLAKE_HOME moves it)" ;;
            *EXECUTOR) what="runs LocalExecutor (tasks in its own worker processes: AIRFLOW__CORE__PARALLELISM)" ;;
            *AUTH_MANAGER) what="runs the simple auth manager (the banner's login and generated password)" ;;
            *SQL_ALCHEMY_CONN*) what="keeps its metadata DB in SQLite in AIRFLOW_HOME (the banner's 'metadata DB')" ;;
            *DAGS_FOLDER) what="runs the repository's dags/ (the banner's 'DAGs')" ;;
            *PLUGINS_FOLDER) what="loads no other Airflow's plugins (AIRFLOW_HOME/plugins)" ;;
            AIRFLOW__SECRETS__*) what="reads connections and variables from its metadata DB and AIRFLOW_CONN_/AIRFLOW_VAR_ variables, not another Airflow's secrets backend" ;;
            *) what="keeps task logs in AIRFLOW_HOME/logs, on this machine" ;;
        esac
        echo "note: ignoring $name from the environment: make airflow $what" >&2
    fi
    unset "$name"
done
for name in "${!AIRFLOW_WANTED[@]}"; do
    export "$name=${AIRFLOW_WANTED[$name]}"
done
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__USAGE_DATA_COLLECTION__ENABLED=False
export AIRFLOW__COSMOS__ENABLE_TELEMETRY=False
export DO_NOT_TRACK=1
export SCARF_ANALYTICS=false
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
export PINLAKE_DBT_MANIFEST="${PINLAKE_DBT_MANIFEST:-$REPO/target/manifest.json}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
PORT="$AIRFLOW__API__PORT"
# Airflow's log servers (the scheduler's and the triggerer's): Airflow binds them on every
# interface, whatever the API's host; two `make airflow` of two homes need other ports here
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="${AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT:-8793}"
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="${AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT:-8794}"
PORT_VARIABLES=(AIRFLOW__API__PORT AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT)
# a port that is not one: one line, before anything starts (the api-server printed its usage and
# standalone ran on without a UI: helper-61)
for name in "${PORT_VARIABLES[@]}"; do
    value="${!name}"
    if ! [[ "$value" =~ ^[0-9]{1,5}$ ]] || ((10#$value < 1 || 10#$value > 65535)); then
        echo "error: $name=$(printf %q "$value") is not a port (a whole number from 1 to 65535)" >&2
        exit 2
    fi
done
# LocalExecutor starts this many worker processes (Airflow's default 32: about 4.7 GB idle
# beside a one-slot pool; helper-61)
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
# loopback only, as every service pinlake starts (Airflow's default is 0.0.0.0)
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
HOST="$AIRFLOW__API__HOST"
case "$HOST" in 0.0.0.0 | "::" | "") URL_HOST=localhost ;; *:*) URL_HOST="[$HOST]" ;; *) URL_HOST="$HOST" ;; esac
# task runners talk to the API server's execution API: follow the host and port
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://$URL_HOST:$PORT/execution/}"
# ... and through httpx, which sends a request for any host NO_PROXY does not name to a company
# network's HTTP_PROXY: loopback is added to it (both spellings), as pinlake's own clients of its
# services ignore the proxy (pinlake.loopback)
# (each once: a shell that names them already, pinlake's own processes do, keeps its list)
NO_PROXY="${NO_PROXY:-${no_proxy:-}}"
for host in 127.0.0.1 localhost ::1; do
    case ",${NO_PROXY// /}," in
        *",$host,"*) ;;
        *) NO_PROXY="${NO_PROXY:+$NO_PROXY,}$host" ;;
    esac
done
export NO_PROXY no_proxy="$NO_PROXY"

# a PINLAKE_ variable that nothing reads: pinlake's own warning, as its commands give it (the
# services line below carried a misspelt PINLAKE_API_PORT without a word: helper-61)
"$BIN/python" -c '
import os, sys
try:
    from pinlake.config import unknown_variables
except ImportError:  # no venv yet: the check below says what to run
    sys.exit(0)
for line in unknown_variables(os.environ):
    print(f"warning: {line}", file=sys.stderr)
'

# The `services up` line to copy: this home and every PINLAKE_ setting of this shell (ports,
# brokers, ...), which the DAGs' tasks read too; a secret by its name only ("$NAME").
SERVICES_ENV="PINLAKE_HOME=$(printf %q "$PINLAKE_HOME")"
while IFS= read -r name; do
    case "$name" in
        PINLAKE_HOME | PINLAKE_AIRFLOW_DRY_RUN | PINLAKE_DBT_MANIFEST) ;;
        *KEY* | *PASSWORD* | *SECRET* | *TOKEN*) SERVICES_ENV+=" $name=\"\$$name\"" ;;
        *) SERVICES_ENV+=" $name=$(printf %q "${!name}")" ;;
    esac
done < <(compgen -e | grep -E '^PINLAKE_' | sort)
# ... and the options of the services of this home the DAGs' tasks use (--s3 for a bucket at
# this home's local S3 server, --thrift, --metastore, --spark-cluster: pinlake.services.manager.
# dag_tasks_request, which the tasks' own "not up" line uses too): without --s3 that line
# started no S3 server, and the DAGs' sink and land found no bucket (helper-70).
# The same run refuses a port given twice, to two of Airflow's servers or to one of them and a
# service of this home that the DAGs' tasks use (pinlake.services.manager.planned_ports): one
# line, exit 2, before anything starts (helper-111: AIRFLOW__API__PORT equal to
# PINLAKE_API__PORT started, and the services line put the ingestion API on the port Airflow's
# API then held).
# For a bucket on S3, a banner line: where, and what the DAGs' tasks sign with (the shell's AWS
# variables, which Airflow passes on; helper-71: none was set and nothing said so; a profile that
# no AWS file defines is named as the tasks' sink and land would name it)
INFO="$("$BIN/python" - "${PORT_VARIABLES[@]}" <<'PY'
import os, sys
try:
    from pinlake.console import environment_settings
    from pinlake.location import S3Path, aws_key_pair, s3_endpoint
    from pinlake.services.manager import dag_tasks_request, planned_ports, shared_port, up_options
except ImportError:  # no venv yet: the check below says what to run
    sys.exit(0)
# a setting pinlake refuses: one line, exit 2, before Airflow starts (the banner's services line
# carried the value, and Airflow started DAGs whose every task failed on it)
settings = environment_settings()
request = dag_tasks_request(settings, os.environ)
airflow = [("127.0.0.1", int(os.environ[name]), name) for name in sys.argv[1:]]
if shared := shared_port(airflow + planned_ports(settings, request, running=True)):
    print(f"error: {shared}", file=sys.stderr)
    sys.exit(2)
print("".join(f" {option}" for option in up_options(settings, request)))
if not isinstance(settings.bucket_dir, S3Path):
    sys.exit(0)
local = request.s3
named = s3_endpoint(os.environ)
where = f"{named[0]}={named[1]}" if named else "AWS"
profile = os.environ.get("AWS_PROFILE")
# a profile that no file defines, read as the boto3 of the DAG tasks reads them (no request);
# boto3 refuses it even beside a key pair
from pinlake.bucket.layout import s3_client_problem

problem = s3_client_problem() if profile else None
if problem:
    signed = f"the DAG tasks cannot sign: {problem}"
elif aws_key_pair(os.environ):
    signed = "the DAG tasks sign with the AWS_ACCESS_KEY_ID of this shell"
elif profile:
    signed = f"the DAG tasks sign with AWS_PROFILE={profile}"
else:
    signed = (
        "no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE in this shell: the DAG "
        "tasks sink and land fail unless boto3 finds other credentials; set them before make "
        "airflow"
        + (" (the local server takes any, e.g. test/test)" if local else "")
    )
print(f"{settings.bucket} at {where}; {signed}")
PY
)" || exit 2
mapfile -t SERVICES_INFO <<<"$INFO"
SERVICES_FLAGS="${SERVICES_INFO[0]:-}"
S3_BANNER=""
if [[ -n "${SERVICES_INFO[1]:-}" ]]; then
    S3_BANNER=$'\n'"  S3 bucket       ${SERVICES_INFO[1]}"
fi

# the simple auth manager's password: standalone prints it when it generates it, on the first
# start; later starts print nothing (helper-110: the banner said "printed below" every time)
PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
if [[ -s "$PASSWORDS" ]]; then
    LOGIN="admin; the password is in $PASSWORDS"
else
    LOGIN="admin; the password is generated on this first start, printed below and kept in"$'\n'"                  $PASSWORDS"
fi
DAGS="$(cd "$REPO/dags" && ls pinterest_*.py | sed 's/\.py$//' | paste -sd, - | sed 's/,/, /g')"
BANNER="$(cat <<MSG
Airflow 3 standalone for pinlake
  UI / API        http://$URL_HOST:$PORT (AIRFLOW__API__HOST, AIRFLOW__API__PORT)
  login           $LOGIN
  AIRFLOW_HOME    $AIRFLOW_HOME
  metadata DB     $AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ($AIRFLOW__CORE__EXECUTOR)
  DAGs            $AIRFLOW__CORE__DAGS_FOLDER ($DAGS)
                  they start paused: a run triggered while paused stays queued; unpause each
                  in the UI or with 'airflow dags unpause <dag>' (the CLI line below)
  stop            Ctrl-C (Airflow's workers are stopped with it)
  PINLAKE_HOME    $PINLAKE_HOME$S3_BANNER
  services        pinterest_batch and pinterest_stream need them:
                  $SERVICES_ENV $(printf %q "$BIN/pinlake") services up$SERVICES_FLAGS
  CLI elsewhere   ${CLI_UNSET:+env $CLI_UNSET}AIRFLOW_HOME=$(printf %q "$AIRFLOW_HOME") AIRFLOW_CONFIG=$(printf %q "$AIRFLOW_CONFIG") AIRFLOW__CORE__DAGS_FOLDER=$(printf %q "$REPO/dags") AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=$(printf %q "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") $(printf %q "$BIN/airflow") ...
MSG
)"
if [[ "${PINLAKE_AIRFLOW_DRY_RUN:-}" == 1 ]]; then
    printf '%s\n' "$BANNER"
    exit 0
fi

# a port that answers already: one line, before anything starts (dbt parse and the database
# migration ran first, about 12 s, and wrote the manifest: helper-80)
"$BIN/python" - "${PORT_VARIABLES[@]}" <<'PY' || exit 1
import os
import sys

try:
    from pinlake.errors import PinlakeError
    from pinlake.services.process import refuse_busy_port
except ImportError:  # no venv yet: the import check below says what to run
    sys.exit(0)

try:
    for name in sys.argv[1:]:
        refuse_busy_port(int(os.environ[name]), name)
except PinlakeError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(1)
PY

# after the port check: importing Airflow writes AIRFLOW_HOME's airflow.cfg and logs/, which a
# refused start left behind (helper-110)
if ! "$BIN/python" -c "import airflow.sdk, cosmos" >/dev/null 2>&1; then
    echo "error: Airflow 3 / astronomer-cosmos do not import from $BIN/python:" >&2
    "$BIN/python" -c "import airflow.sdk, cosmos" 2>&1 | tail -n 1 >&2
    echo "run \`make setup\` (requirements.lock installs them)" >&2
    exit 1
fi

mkdir -p "$AIRFLOW_HOME" "$PINLAKE_HOME/logs"
# Airflow's files that hold secrets are the user's alone (helper-111: the login password and the
# metadata DB were 0644, readable by every local user; airflow.cfg, with its generated keys,
# Airflow writes 0600 itself). The metadata DB (connections, variables): made 0600 before SQLite
# opens it, which keeps an existing file's mode. The login password: generated here, on the
# first start, as standalone generates it (the simple auth manager's init), with a umask that
# leaves the file to the user; standalone then finds it and does not generate another. (A file
# made empty in advance would not do: standalone takes any file for a password printed before.)
(umask 077 && touch "$AIRFLOW_HOME/airflow.db") && chmod 600 "$AIRFLOW_HOME/airflow.db"
[[ -f "$PASSWORDS" ]] && chmod 600 "$PASSWORDS"  # an older start's
NEW_PASSWORD=""
if [[ ! -s "$PASSWORDS" ]]; then
    rm -f "$PASSWORDS"
    NEW_PASSWORD="$(umask 077 && "$BIN/python" - "$PASSWORDS" 2>>"$PINLAKE_HOME/logs/airflow-login.log" <<'PY'
import contextlib, io, json, sys

from airflow.api_fastapi.app import create_auth_manager

with contextlib.redirect_stdout(io.StringIO()):  # its own "Password for user" line
    create_auth_manager().init()
try:  # none with simple_auth_manager_all_admins; other users than admin: not printed here
    with open(sys.argv[1]) as passwords:
        print(json.load(passwords).get("admin", ""))
except FileNotFoundError:
    pass
PY
)" || { echo "error: generating the login password failed; see $PINLAKE_HOME/logs/airflow-login.log" >&2; exit 1; }
fi

echo "==> dbt parse -> $PINLAKE_DBT_MANIFEST"
(
    cd "$REPO"
    # the project's own profile and target, whatever the shell names for another project
    DBT_PROFILES_DIR="$REPO" DBT_PROJECT_DIR="$REPO" DBT_PROFILE=pinlake \
        DBT_TARGET="${PINLAKE_DBT_TARGET:-local}" PINLAKE_HOME="$PINLAKE_HOME" "$BIN/dbt" parse --quiet \
        --target-path "$(dirname "$PINLAKE_DBT_MANIFEST")" --log-path "$PINLAKE_HOME/logs/dbt"
)
if [[ "$(basename "$PINLAKE_DBT_MANIFEST")" != manifest.json ]]; then
    mv "$(dirname "$PINLAKE_DBT_MANIFEST")/manifest.json" "$PINLAKE_DBT_MANIFEST"
fi

echo "==> airflow db migrate ($AIRFLOW_HOME)"
"$BIN/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 \
    || { tail -n 30 "$AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }
"$BIN/airflow" pools set pinlake_spark 1 \
    "embedded Spark + Derby metastore: one process at a time" >>"$AIRFLOW_HOME/db-migrate.log" 2>&1 \
    || { tail -n 30 "$AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }

printf '\n%s\n' "$BANNER"
if [[ -n "$NEW_PASSWORD" ]]; then
    printf '  password        %s (generated now; readable by you alone in the file above)\n' "$NEW_PASSWORD"
fi
echo
# standalone in a process group of its own, stopped as a whole on Ctrl-C or SIGTERM, with SIGTERM
# and SIGKILL after it when it does not end (its scheduler could hang with LocalExecutor's workers)
exec "$REPO/scripts/supervise_group.sh" "$BIN/airflow" standalone
