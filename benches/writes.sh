#!/usr/bin/env bash
# Write throughput (issue 14): producers only (16, one message a post), consumers only (8,
# claim 10 and delete each, over a pre-filled queue) and the default mixed load (8 producers,
# 4 consumers, 4 observers), against the bare actix-web ceiling and zaqar-server on each
# store, all in one run. A fresh server per row; its CPU time gives CPU per request; the
# queue's free messages before and after the load say whether consumers kept up.
#
#   bash benches/writes.sh [SECONDS] [STORE...]
#
# Stores: sqlite-normal, sqlite-full (synchronous = normal / full), postgres (fsync on),
# redis-everysec, redis-always (append-only file synced each second / at every write).
# Default: all five. PREFILL (default 100000) messages are posted before the consumers run.
# PostgreSQL's table is analysed before each load (the steady state), unless PG_ANALYZE=0.
#
# BEFORE=REV (a commit) also runs REV's server on each store, right before this tree's, under
# the same load: "how much faster than REV" measured in one run, on one machine state (this
# machine's ceiling has swung by 2.5x between days, and a store's fsync latency does not
# swing with it, so ratios to the ceiling of runs on different days do not compare). REV is
# built in a git worktree sharing this tree's target directory. Each build's binary is copied
# aside as soon as it is built, and this tree's is put back in target/release after: cargo,
# asked to build this tree again after REV, may find it fresh and leave REV's binary there
# (both rows then ran REV, and so did later scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
stores=("$@")
[ ${#stores[@]} -gt 0 ] || stores=(sqlite-normal sqlite-full postgres redis-everysec redis-always)
prefill=${PREFILL:-100000}
source benches/lib.sh
trap 'stop_postgres; stop_redis; [ -z "${BEFORE:-}" ] || git worktree remove --force "$work/before"; bench_cleanup' EXIT
# builds: "LABEL|BINARY" per server build to measure, in the order they run.
cp target/release/zaqar-server "$work/this-server"
builds=("zaqar-server|$work/this-server")
if [ -n "${BEFORE:-}" ]; then
    git worktree add --quiet --detach "$work/before" "$BEFORE"
    (cd "$work/before" && CARGO_TARGET_DIR="$OLDPWD/target" \
        cargo build --release --quiet --bin zaqar-server)
    cp target/release/zaqar-server "$work/before-server"
    # A copy, not cargo's link to REV's artifact, which the copy would otherwise overwrite.
    rm target/release/zaqar-server
    cp "$work/this-server" target/release/zaqar-server
    builds=("zaqar-server $BEFORE|$work/before-server" "${builds[@]}")
fi
start_bare

declare -A loads=(
    [producers]="--producers 16 --consumers 0 --observers 0"
    [consumers]="--producers 0 --consumers 8 --observers 0 --claim 10"
    [mixed]="--producers 8 --consumers 4 --observers 4"
)
run=0
# serve STORE BINARY BUILD: starts BINARY for STORE on 127.0.0.1:18888 (server_pid, uri).
# Each build has a PostgreSQL database of its own (their schemas differ).
serve() {
    local sync=normal
    case $1 in
        sqlite-normal) uri="sqlite://$work/run$run.db" ;;
        sqlite-full) uri="sqlite://$work/run$run.db" sync=full ;;
        postgres)
            [ -n "${PG_DIR:-}" ] || PG_FSYNC=on start_postgres
            uri="${PG_URI%/*}/build$3"
            psql -q "$PG_URI" -c "CREATE DATABASE build$3" 2>/dev/null || true ;;
        redis-*)
            stop_redis
            REDIS_APPENDFSYNC=${1#redis-} start_redis
            uri=$REDIS_URI ;;
        *) echo "unknown store $1" >&2; exit 2 ;;
    esac
    cat >"$work/zaqar.toml" <<TOML
[storage]
message_store = "$uri"
sqlite_synchronous = "$sync"
TOML
    (cd "$work" && exec "$2" --config zaqar.toml \
        --bind 127.0.0.1:18888) 2>"$work/server.log" &
    server_pid=$!
    wait_port 18888
}
# fill NAME URL: a fresh project for the next load of NAME; the consumers' queue is filled
# first (untimed, outside the CPU measurement).
fill() {
    run=$((run + 1))
    if [ "$1" = consumers ]; then
        target/release/examples/loadgen --url "$2" --duration 0 --project "run$run" \
            --producers 0 --consumers 0 --observers 0 --prefill "$prefill" >/dev/null
    fi
}
# load NAME URL OUT: one load of NAME against URL, its output in OUT.
load() {
    # shellcheck disable=SC2086
    target/release/examples/loadgen --url "$2" --duration "$seconds" --project "run$run" \
        ${loads[$1]} >"$3"
}
row() { # LOAD LABEL FILE BARE CPU_US
    awk -v load="$1" -v label="$2" -v bare="$4" -v cpu="$5" '
        $1=="total" {t=$3; p50=$4; p99=$5}
        $1=="depth" {d=$2 " → " $3}
        END {printf "| %s | %s | %.0f | %.2f | %s | %s | %s | %s |\n", load, label, t, t/bare, p50, p99, cpu, d}' "$3"
}

echo "| load | server | req/s | ratio to bare | p50 ms | p99 ms | server CPU µs/request | free messages before → after |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for name in producers consumers mixed; do
    fill "$name" http://127.0.0.1:18890
    load "$name" http://127.0.0.1:18890 "$work/bare.txt"
    bare=$(awk '$1=="total"{print $3}' "$work/bare.txt")
    row "$name" "bare actix-web (ceiling)" "$work/bare.txt" "$bare" "-"
    for store in "${stores[@]}"; do
      for b in "${!builds[@]}"; do
        IFS='|' read -r label binary <<<"${builds[$b]}"
        serve "$store" "$binary" "$b"
        fill "$name" http://127.0.0.1:18888
        # Right after a bulk load PostgreSQL plans without statistics of the table (until
        # autovacuum analyses it, within a minute) and finds a message by id through the
        # queue's index, a scan of the queue per delete. This measures the steady state.
        # (Claims stay slow on PostgreSQL here: BENCHMARKS.md "Writes".)
        # PG_ANALYZE=0 skips it: the state right after a burst of posts, before autovacuum
        # has analysed the table (stale statistics).
        [ "$store" = postgres ] && [ "${PG_ANALYZE:-1}" = 1 ] && psql -q "$uri" -c "ANALYZE messages"
        before=$(cpu_ticks "$server_pid")
        load "$name" http://127.0.0.1:18888 "$work/out.txt"
        after=$(cpu_ticks "$server_pid")
        requests=$(awk '$1=="total"{print $2}' "$work/out.txt")
        cpu=$(python3 -c "print(round(($after - $before) / $(getconf CLK_TCK) / max($requests, 1) * 1e6))")
        row "$name" "$label, $store" "$work/out.txt" "$bare" "$cpu"
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
      done
    done
done
