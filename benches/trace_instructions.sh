#!/usr/bin/env bash
# What tracing a request costs, in instructions: each server binary runs under valgrind's
# callgrind (every instruction of every thread counted, so the figure does not move with
# this machine's speed, which swings by half within an hour), once with unsigned requests
# and once with every request signed and exported over OTLP/HTTP to a local sink
# (examples/bare_server). Counters are zeroed once the server listens; the load is the
# mixed one, small (4 producers, 2 consumers, 2 observers: under callgrind the server runs
# about fifty times slower).
#
#   bash benches/trace_instructions.sh [SECONDS] [BINARY...]
#
# Without binaries it measures this tree's release build. To compare with another commit,
# build it elsewhere (git worktree add /tmp/before REV; cargo build --release in it) and
# pass both binaries. Prints, per binary and mode, the requests served and instructions
# per request. KEEP=DIR keeps each run's callgrind output there (N-mode.cg.out, for
# callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
shift || true
if ! command -v valgrind >/dev/null; then
    apt-get install -y -q valgrind >/dev/null
fi
source benches/lib.sh
start_bare
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(target/release/zaqar-server)

run() { # binary mode
    local bin=$1 mode=$2 dir pid flag=() requests ir
    dir=$(mktemp -d "$work/run.XXXX")
    cat >"$dir/zaqar.toml" <<TOML
[storage]
message_store = "sqlite://$dir/zaqar.db"
[profiler]
enabled = true
hmac_keys = ["bench-key"]
otlp_protocol = "http/protobuf"
otlp_endpoint = "http://127.0.0.1:18890"
TOML
    OTEL_BSP_SCHEDULE_DELAY=200 valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
        "$bin" --config "$dir/zaqar.toml" --bind 127.0.0.1:18888 2>"$dir/server.log" &
    pid=$!
    wait_port 18888 120
    callgrind_control -z "$pid" >/dev/null 2>&1
    [ "$mode" = signed ] && flag=(--profile bench-key)
    target/release/examples/loadgen --url http://127.0.0.1:18888 --duration "$seconds" \
        --producers 4 --consumers 2 --observers 2 "${flag[@]}" >"$dir/out.txt"
    # SIGTERM flushes the spans still batched, so their export is counted too.
    kill -TERM "$pid"
    wait "$pid" || true
    requests=$(awk '$1=="total" {print $2}' "$dir/out.txt")
    ir=$(awk '/^(summary|totals):/ {print $2}' "$dir"/cg.out* | sort -n | tail -1)
    echo "| $bin | $mode | $requests | $((ir / requests)) |"
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP"
        kept=$((kept + 1))
        cat "$dir"/cg.out* >"$KEEP/$kept-$mode.cg.out"
        echo "$requests" >"$KEEP/$kept-$mode.requests"
    fi
}
kept=0

echo "| binary | mode | requests served | instructions per request |"
echo "|---|---|---:|---:|"
for bin in "${bins[@]}"; do
    run "$bin" unsigned
    run "$bin" signed
done
