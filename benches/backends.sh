#!/usr/bin/env bash
# Throughput per backend: the load generator (8 producers, 4 consumers claiming and deleting)
# against zaqar-server on SQLite, PostgreSQL, Redis and MongoDB (the wire-compatible
# NX-27017), each started fresh on loopback,
# next to the bare actix-web ceiling measured in the same run. Prints a markdown table.
#
#   bash benches/backends.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
source benches/lib.sh
trap 'stop_postgres; stop_redis; stop_mongo; bench_cleanup' EXIT
need PostgreSQL start_postgres
need Redis start_redis
need "MongoDB (NX-27017)" start_mongo
start_bare

load() { # url -> loadgen output file
    target/release/examples/loadgen --url "$1" --duration "$seconds" \
        --producers 8 --consumers 4 --observers 0 >"$2"
}
row() { # label file: "| label | post req/s | post p99 | claim req/s | claim p99 | delete req/s | delete p99 | total req/s"
    awk -v label="$1" '
        $1=="post" {p=$3; pp=$5} $1=="claim" {c=$3; cp=$5} $1=="delete" {d=$3; dp=$5} $1=="total" {t=$3}
        END {printf "| %s | %s | %s | %s | %s | %s | %s | %s |", label, p, pp, c, cp, d, dp, t}' "$2"
}

load http://127.0.0.1:18890 "$work/bare.txt"
bare_total=$(awk '$1=="total"{print $3}' "$work/bare.txt")
echo "| server | post req/s | post p99 ms | claim req/s | claim p99 ms | delete req/s | delete p99 ms | total req/s | ratio to bare |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "$(row "bare actix-web (ceiling)" "$work/bare.txt") 1.00 |"
for backend in "sqlite sqlite://$work/zaqar.db" "postgres $PG_URI" "redis $REDIS_URI" "mongodb $MONGO_URI"; do
    set -- $backend
    printf '[storage]\nmessage_store = "%s"\n' "$2" >"$work/$1.toml"
    target/release/zaqar-server --config "$work/$1.toml" --bind 127.0.0.1:18888 2>"$work/$1.log" &
    pid=$!
    wait_port 18888
    load http://127.0.0.1:18888 "$work/$1.txt"
    kill -TERM "$pid"
    wait "$pid" || true
    total=$(awk '$1=="total"{print $3}' "$work/$1.txt")
    echo "$(row "zaqar-server, $1" "$work/$1.txt") $(python3 -c "print(f'{$total / $bare_total:.2f}')") |"
done
