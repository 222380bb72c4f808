#!/usr/bin/env bash
# Stats, claim and list latency on a queue of DEPTH messages (default 200,000), and another
# project's posts alone and beside a loop of those operations, per backend: SQLite,
# PostgreSQL and Redis, each started fresh on loopback. Prints a markdown table.
#
#   bash benches/deep_queue.sh [DEPTH] [ROUNDS]
#
# ZAQAR_BENCH_SERVERS="label=path ..." adds servers to compare (another build of
# zaqar-server, run on the same Redis), e.g. ZAQAR_BENCH_SERVERS="redis-before=/tmp/old/zaqar-server".
set -euo pipefail
cd "$(dirname "$0")/.."
depth=${1:-200000}
rounds=${2:-200}
source tests/lib.sh
cargo build --release --quiet --bin zaqar-server --example deep_queue
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; stop_postgres; stop_redis; rm -rf "$work"' EXIT
need PostgreSQL start_postgres
need Redis start_redis

run() { # label binary store
    printf '[storage]\nmessage_store = "%s"\ngc_interval = 0\n' "$3" >"$work/$1.toml"
    "$2" --config "$work/$1.toml" --bind 127.0.0.1:18888 2>"$work/$1.log" &
    pid=$!
    wait_port 18888
    target/release/examples/deep_queue --url http://127.0.0.1:18888 --depth "$depth" \
        --rounds "$rounds" --label "$1" 2>>"$work/$1.log"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
}

echo "| backend | operation ($depth messages) | p50 ms | p99 ms | failed |"
echo "|---|---|---:|---:|---:|"
run sqlite target/release/zaqar-server "sqlite://$work/zaqar.db"
run postgres target/release/zaqar-server "$PG_URI"
run redis target/release/zaqar-server "$REDIS_URI"
for extra in ${ZAQAR_BENCH_SERVERS:-}; do
    redis-cli -u "$REDIS_URI" FLUSHALL >/dev/null
    run "${extra%%=*}" "${extra#*=}" "$REDIS_URI"
done
