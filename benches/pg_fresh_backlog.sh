#!/usr/bin/env bash
# PostgreSQL claims over a backlog posted moments ago, before autovacuum has analysed the
# table (the planner still believes the queue is nearly empty): each round a fresh database
# and server, PREFILL (default 60000) messages posted, then 8 consumers claim 10 and delete
# each for SECONDS. With BEFORE_BIN=PATH (another build's zaqar-server) the rounds
# alternate between that build and this one, so both are measured on one machine state.
#
#   bash benches/pg_fresh_backlog.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-3}
prefill=${PREFILL:-60000}
source benches/lib.sh
trap 'stop_postgres; bench_cleanup' EXIT
PG_FSYNC=on start_postgres
cp target/release/zaqar-server "$work/this-server"
builds=("this build|$work/this-server")
[ -z "${BEFORE_BIN:-}" ] || builds=("before|$BEFORE_BIN" "${builds[@]}")
n=0
echo "| round | build | req/s | claims/s | claim p50 ms | claim p99 ms | delete p50 ms | free messages before → after |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for round in $(seq "$rounds"); do
    for b in "${builds[@]}"; do
        IFS='|' read -r label binary <<<"$b"
        n=$((n + 1))
        psql -q "$PG_URI" -c "CREATE DATABASE fresh$n"
        printf '[storage]\nmessage_store = "%s"\n' "${PG_URI%/*}/fresh$n" >"$work/zaqar.toml"
        (cd "$work" && exec "$binary" --config zaqar.toml --bind 127.0.0.1:18888) 2>"$work/server.log" &
        server_pid=$!
        wait_port 18888
        target/release/examples/loadgen --url http://127.0.0.1:18888 --duration "$seconds" \
            --project "fresh$n" --producers 0 --consumers 8 --observers 0 --claim 10 \
            --prefill "$prefill" >"$work/out.txt"
        awk -v round="$round" -v label="$label" '
            $1=="total" {t=$3} $1=="claim" {c=$3; c50=$4; c99=$5} $1=="delete" {d50=$4}
            $1=="depth" {d=$2 " → " $3}
            END {printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", round, label, t, c, c50, c99, d50, d}' "$work/out.txt"
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
    done
done
