#!/usr/bin/env bash
# Pooling overhead: the same load against zaqar-server (embedded SQLite) three ways, in one
# run, next to the bare actix-web ceiling: pooling off (no catalog); pooling on with the
# queue in the default pool (every request asks the catalog cache); pooling on with the
# queue placed in a registered pool (a second SQLite file), so every hop goes through the
# catalog to another store.
#
#   bash benches/pooling.sh [SECONDS] [extra loadgen flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
source benches/lib.sh

load() { # label url loadgen-flags...
    local label=$1 url=$2
    shift 2
    target/release/examples/loadgen --url "$url" --duration "$seconds" "$@" >"$work/$label.txt"
    total_row "$label" "$work/$label.txt"
}

run() { # label pooling register-a-pool loadgen-flags...
    local label=$1 pooling=$2 pool=$3
    shift 3
    local dir="$work/$label"
    mkdir -p "$dir"
    cat >"$dir/zaqar.toml" <<TOML
[server]
admin_mode = true
[storage]
message_store = "sqlite://$dir/zaqar.db"
[pooling]
enabled = $pooling
TOML
    target/release/zaqar-server --config "$dir/zaqar.toml" --bind 127.0.0.1:18888 2>"$dir/server.log" &
    local pid=$!
    wait_port 18888
    if [ "$pool" = yes ]; then
        curl -sf -X PUT -H "Client-ID: 3381af92-2b9e-11e3-b191-71861300734c" -H "X-Project-ID: ops" \
            -H "X-Roles: admin" -H "Content-Type: application/json" \
            -d "{\"weight\": 1, \"uri\": \"sqlite://$dir/pool.db\"}" \
            http://127.0.0.1:18888/v2/pools/p1 >/dev/null
    fi
    load "$label" http://127.0.0.1:18888 "$@"
    kill -TERM "$pid"
    wait "$pid" || true
}

start_bare
echo "| server | req/s | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|"
load "bare actix-web (ceiling)" http://127.0.0.1:18890 "$@"
run "pooling off" false no "$@"
run "pooling on, queue in the default pool" true no "$@"
run "pooling on, queue in a registered pool" true yes "$@"
