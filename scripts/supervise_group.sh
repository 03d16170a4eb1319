#!/usr/bin/env bash
# Run a command in a process group of its own, and stop the whole group when this script is
# stopped:
#
#   scripts/supervise_group.sh [--grace SECONDS] COMMAND [ARG...]
#
# `make airflow` runs `airflow standalone` through it (scripts/airflow_standalone.sh): after a
# Ctrl-C its scheduler could hang with LocalExecutor's workers, still there minutes later, and
# orphaned with 4.7 GB after a SIGTERM (helper-61).
#
# - Ctrl-C (SIGINT) or SIGTERM to this script is passed on to the command's process group, with
#   one line on stderr saying what follows.
# - A group still running GRACE seconds later (default 20) gets SIGTERM (after a SIGINT), and
#   GRACE seconds after that SIGKILL; each step is one line on stderr.
# - Whatever is left of the group once the command has ended is killed (its orphaned children).
# - Exit: the command's status. Stopped by a signal, this script ends by that same signal, so
#   that its caller (make, a shell) sees an interrupted command, not a failed one ("make: ***
#   [...] Interrupt", not "Error 143"): the shells' convention for SIGINT
#   (https://www.cons.org/cracauer/sigint.html); 128 + the signal's number where the signal
#   cannot end it (ignored since this script's start).
set -uo pipefail

GRACE=20
if [[ "${1:-}" == --grace ]]; then
    GRACE="${2:-}"
    shift 2 || true
fi
if [[ ! "$GRACE" =~ ^[0-9]+$ ]] || (($# == 0)); then
    echo "usage: $0 [--grace SECONDS] COMMAND [ARG...]" >&2
    exit 2
fi
NAME="${1##*/}${2:+ $2}" # "airflow standalone"

set -m # job control: the command in a process group of its own, which Ctrl-C does not reach
"$@" &
GROUP=$!
set +m
STOPPED_BY=""  # the signal that asked for the stop: INT or TERM
STOPPED_AT=0
ESCALATED=""   # the last signal this script sent on its own: TERM, then KILL

stop() {
    if [[ -z "$STOPPED_BY" ]]; then
        STOPPED_BY=$1
        STOPPED_AT=$SECONDS
        if [[ "$1" == TERM ]]; then
            ESCALATED=TERM # sent now: SIGKILL is what comes next
            next="SIGKILL in ${GRACE} s"
        else
            next="SIGTERM in ${GRACE} s and SIGKILL in $((2 * GRACE)) s"
        fi
        echo "stopping \`$NAME\` (SIG$1 to its processes); $next if it has not ended" >&2
    fi
    kill "-$1" -- "-$GROUP" 2>/dev/null
}
trap 'stop INT' INT
trap 'stop TERM' TERM

# until the command has ended (gone, or a zombie not yet waited for)
while ps -o stat= -p "$GROUP" | grep -qv Z; do
    if [[ -n "$STOPPED_BY" ]]; then
        waited=$((SECONDS - STOPPED_AT))
        kill_after=$((2 * GRACE))
        [[ "$STOPPED_BY" == TERM ]] && kill_after=$GRACE
        # in order: SIGTERM first (unless it was the stop), SIGKILL only after it
        if ((waited >= GRACE)) && [[ -z "$ESCALATED" ]]; then
            echo "\`$NAME\` still running ${waited} s after SIG$STOPPED_BY: SIGTERM to its processes" >&2
            kill -TERM -- "-$GROUP" 2>/dev/null
            ESCALATED=TERM
        elif ((waited >= kill_after)) && [[ "$ESCALATED" == TERM ]]; then
            echo "\`$NAME\` still running ${waited} s after SIG$STOPPED_BY: SIGKILL to its processes" >&2
            kill -KILL -- "-$GROUP" 2>/dev/null
            ESCALATED=KILL
        fi
    fi
    sleep 1 &
    wait $! 2>/dev/null # a trapped signal ends the wait at once
done
status=0
wait "$GROUP" 2>/dev/null || status=$?
kill -KILL -- "-$GROUP" 2>/dev/null # what is left of the group: orphans of the command
if [[ -n "$STOPPED_BY" ]]; then
    trap - "$STOPPED_BY"
    kill "-$STOPPED_BY" $$
    [[ "$STOPPED_BY" == INT ]] && exit 130
    exit 143
fi
exit "$status"
