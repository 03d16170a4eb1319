#!/usr/bin/env bash
# `make airflow`: Airflow 3 standalone for pinlake, with state under PINLAKE_HOME.
#
#   AIRFLOW_HOME     default $PINLAKE_HOME/airflow (sqlite metadata DB, logs, generated password)
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
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PINLAKE_HOME/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__USAGE_DATA_COLLECTION__ENABLED=False
export AIRFLOW__COSMOS__ENABLE_TELEMETRY=False
export DO_NOT_TRACK=1
export SCARF_ANALYTICS=false
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
export PINLAKE_DBT_MANIFEST="${PINLAKE_DBT_MANIFEST:-$REPO/target/manifest.json}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
PORT="$AIRFLOW__API__PORT"
# loopback only, as every service pinlake starts (Airflow's default is 0.0.0.0)
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
HOST="$AIRFLOW__API__HOST"
case "$HOST" in 0.0.0.0 | "::" | "") URL_HOST=localhost ;; *:*) URL_HOST="[$HOST]" ;; *) URL_HOST="$HOST" ;; esac
# task runners talk to the API server's execution API: follow the host and port
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://$URL_HOST:$PORT/execution/}"

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

DAGS="$(cd "$REPO/dags" && ls pinterest_*.py | sed 's/\.py$//' | paste -sd, - | sed 's/,/, /g')"
BANNER="$(cat <<MSG
Airflow 3 standalone for pinlake
  UI / API        http://$URL_HOST:$PORT (AIRFLOW__API__HOST, AIRFLOW__API__PORT)
  login           admin; the password is printed below by 'standalone' and kept in
                  $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
  AIRFLOW_HOME    $AIRFLOW_HOME
  DAGs            $AIRFLOW__CORE__DAGS_FOLDER ($DAGS)
  PINLAKE_HOME    $PINLAKE_HOME
  services        pinterest_batch and pinterest_stream need them:
                  $SERVICES_ENV $(printf %q "$BIN/pinlake") services up
  CLI elsewhere   AIRFLOW_HOME=$(printf %q "$AIRFLOW_HOME") AIRFLOW__CORE__DAGS_FOLDER=$(printf %q "$REPO/dags") $(printf %q "$BIN/airflow") ...
MSG
)"
if [[ "${PINLAKE_AIRFLOW_DRY_RUN:-}" == 1 ]]; then
    printf '%s\n' "$BANNER"
    exit 0
fi

if ! "$BIN/python" -c "import airflow.sdk, cosmos" >/dev/null 2>&1; then
    echo "error: Airflow 3 / astronomer-cosmos do not import from $BIN/python:" >&2
    "$BIN/python" -c "import airflow.sdk, cosmos" 2>&1 | tail -n 1 >&2
    echo "run \`make setup\` (requirements.lock installs them)" >&2
    exit 1
fi

mkdir -p "$AIRFLOW_HOME" "$PINLAKE_HOME/logs"

echo "==> dbt parse -> $PINLAKE_DBT_MANIFEST"
(
    cd "$REPO"
    DBT_PROFILES_DIR="$REPO" PINLAKE_HOME="$PINLAKE_HOME" "$BIN/dbt" parse --quiet \
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

printf '\n%s\n\n' "$BANNER"
exec "$BIN/airflow" standalone
