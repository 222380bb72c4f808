#!/usr/bin/env bash
# Zaqar 23.0.1 beside zaqar-server, under the same loads in one run: producers only (16, one
# message a post) and consumers only (8, claim 10 and delete each, over a pre-filled queue),
# against the bare actix-web ceiling, Zaqar 23.0.1 (from PyPI, into .test-env/zaqar23, under
# gunicorn with 2 workers x 4 threads) and zaqar-server, both on the same Redis (no
# persistence, as Zaqar's devstack job runs it).
#
#   bash benches/zaqar23.sh [SECONDS]
#
# PREFILL (default 100000) messages are posted for each consumers run (ZAQAR23_PREFILL,
# default 20000, for Zaqar 23, which drains them more slowly). The first run installs Zaqar.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
prefill=${PREFILL:-100000}
zaqar23_prefill=${ZAQAR23_PREFILL:-20000}
source benches/lib.sh
trap 'stop_zaqar23; stop_redis; bench_cleanup' EXIT

venv=.test-env/zaqar23
if ! "$venv/bin/python" -c "import zaqar, gunicorn, redis" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'zaqar[redis]==23.0.1' gunicorn
fi
start_redis
redis_port=${REDIS_URI#redis://127.0.0.1:}
redis_port=${redis_port%/0}

# start_zaqar23: Zaqar 23 under gunicorn on 127.0.0.1:18889 (zaqar23_pid: the master).
start_zaqar23() {
    local run=$work/zaqar23
    mkdir -p "$run"
    sed -e "s#@@RUN@@#$run#g" -e "s#@@REDIS_PORT@@#$redis_port#g" \
        benches/zaqar23/zaqar.conf.in >"$run/zaqar.conf"
    # Zaqar's own migrations do not run on SQLite; its unit tests create the schema so.
    "$venv/bin/python" - "$run/zaqar-mgmt.sqlite" <<'PY'
import sys, sqlalchemy as sa
from zaqar.storage.sqlalchemy import tables
tables.metadata.create_all(sa.create_engine('sqlite:///' + sys.argv[1]))
PY
    ZAQAR_CONFIG_FILE="$run/zaqar.conf" PYTHONPATH=benches/zaqar23 "$venv/bin/gunicorn" \
        --bind 127.0.0.1:18889 --workers 2 --threads 4 --error-logfile "$run/gunicorn.log" \
        wsgi:application &
    zaqar23_pid=$!
    wait_port 18889
}
stop_zaqar23() {
    [ -n "${zaqar23_pid:-}" ] || return 0
    kill "$zaqar23_pid" 2>/dev/null || true
    wait "$zaqar23_pid" 2>/dev/null || true
    zaqar23_pid=
}
# serve_ours: zaqar-server on the same Redis, on 127.0.0.1:18888 (server_pid).
serve_ours() {
    printf '[storage]\nmessage_store = "%s"\n' "${REDIS_URI%/0}/5" >"$work/zaqar.toml"
    (cd "$work" && exec "$OLDPWD/target/release/zaqar-server" --config zaqar.toml \
        --bind 127.0.0.1:18888) 2>"$work/server.log" &
    server_pid=$!
    wait_port 18888
}
# tree_ticks PID: CPU ticks of PID and its children (gunicorn's workers).
tree_ticks() {
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(cpu_ticks "$p")))
    done
    echo "$total"
}

declare -A loads=(
    [producers]="--producers 16 --consumers 0 --observers 0"
    [consumers]="--producers 0 --consumers 8 --observers 0 --claim 10"
)
# measure NAME URL PID FILL PROJECT: one load of NAME against URL (PID's CPU counted) in a
# project of its own, after posting FILL messages for a consumers load; prints its figures.
measure() {
    local run=$5
    if [ "$1" = consumers ]; then
        target/release/examples/loadgen --url "$2" --duration 0 --project "z$run" \
            --producers 0 --consumers 0 --observers 0 --prefill "$4" >/dev/null
    fi
    local before after
    before=$(tree_ticks "$3")
    # shellcheck disable=SC2086
    target/release/examples/loadgen --url "$2" --duration "$seconds" --project "z$run" \
        ${loads[$1]} >"$work/out.txt"
    after=$(tree_ticks "$3")
    awk -v before="$before" -v after="$after" -v tck="$(getconf CLK_TCK)" '
        $1=="total" {n=$2; t=$3; p50=$4; p99=$5}
        $1=="depth" {d=$2 " → " $3}
        END {printf "%s|%s|%s|%.0f|%s\n", t, p50, p99, (after-before)/tck/(n>0?n:1)*1e6, d}' \
        "$work/out.txt"
}

start_bare
echo "| load | server | req/s | ratio to Zaqar 23 | ratio to bare | p50 ms | p99 ms | server CPU µs/request | free messages before → after |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for name in producers consumers; do
    bare=$(measure "$name" http://127.0.0.1:18890 "${pids[0]}" "$prefill" "bare-$name")
    start_zaqar23
    theirs=$(measure "$name" http://127.0.0.1:18889 "$zaqar23_pid" "$zaqar23_prefill" "z23-$name")
    stop_zaqar23
    serve_ours
    ours=$(measure "$name" http://127.0.0.1:18888 "$server_pid" "$prefill" "ours-$name")
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    z=${theirs%%|*}
    b=${bare%%|*}
    for row in "bare actix-web (ceiling)|$bare" "Zaqar 23.0.1, gunicorn 2×4, Redis|$theirs" \
        "zaqar-server, Redis|$ours"; do
        IFS='|' read -r label t p50 p99 cpu depth <<<"$row"
        [ "$label" = "bare actix-web (ceiling)" ] && cpu=-
        awk -v l="$label" -v n="$name" -v t="$t" -v z="$z" -v b="$b" -v p50="$p50" \
            -v p99="$p99" -v cpu="$cpu" -v d="$depth" \
            'BEGIN {printf "| %s | %s | %.0f | %.1f | %.2f | %s | %s | %s | %s |\n", n, l, t, t/z, t/b, p50, p99, cpu, d}'
    done
done
