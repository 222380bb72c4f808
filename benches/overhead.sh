#!/usr/bin/env bash
# Profiler overhead: the same load against zaqar-server (embedded SQLite) four ways, in one
# run: built without the profiler feature; with it but `enabled = false`; enabled with
# unsigned requests; enabled with every request signed, its spans exported over OTLP/HTTP
# to a local sink (examples/bare_server.rs, which accepts and drops them).
#
#   bash benches/overhead.sh [SECONDS] [extra loadgen flags...]
#
# BEFORE_BIN=PATH (another build's zaqar-server, e.g. built in a worktree of an earlier
# commit) adds, after the four rows, that build's unsigned and signed rows and then this
# build's again, so the signed/unsigned ratios of both builds come from one run; ROUNDS=N
# (1) repeats those four rows N times, alternating, as this machine's speed drifts.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
key=bench-key

cargo build --release --quiet --no-default-features --bin zaqar-server
cp target/release/zaqar-server target/release/zaqar-server-no-profiler
# benches/lib.sh then builds the default (profiler) server over it.
source benches/lib.sh
start_bare

run() { # label binary enabled loadgen-flags...
    local label=$1 bin=$2 enabled=$3
    shift 3
    local dir="$work/${label//[^A-Za-z0-9]/_}"
    mkdir -p "$dir"
    cat >"$dir/zaqar.toml" <<TOML
[storage]
message_store = "sqlite://$dir/zaqar.db"
[profiler]
enabled = $enabled
hmac_keys = ["$key"]
otlp_protocol = "http/protobuf"
otlp_endpoint = "http://127.0.0.1:18890"
TOML
    "$bin" --config "$dir/zaqar.toml" --bind 127.0.0.1:18888 2>"$dir/server.log" &
    local pid=$!
    wait_port 18888
    target/release/examples/loadgen --url http://127.0.0.1:18888 --duration "$seconds" "$@" >"$dir/out.txt"
    kill -TERM "$pid"
    wait "$pid" || true
    total_row "$label" "$dir/out.txt"
}

echo "| build and setting | req/s | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|"
run "feature off" target/release/zaqar-server-no-profiler false "$@"
run "on, enabled = false" target/release/zaqar-server false "$@"
run "enabled, unsigned requests" target/release/zaqar-server true "$@"
run "enabled, every request signed" target/release/zaqar-server true --profile "$key" "$@"
if [ -n "${BEFORE_BIN:-}" ]; then
    for round in $(seq "${ROUNDS:-1}"); do
        run "round $round: before ($BEFORE_BIN), unsigned" "$BEFORE_BIN" true "$@"
        run "round $round: before ($BEFORE_BIN), signed" "$BEFORE_BIN" true --profile "$key" "$@"
        run "round $round: this build, unsigned" target/release/zaqar-server true "$@"
        run "round $round: this build, signed" target/release/zaqar-server true --profile "$key" "$@"
    done
fi
