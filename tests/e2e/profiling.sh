#!/usr/bin/env bash
# End-to-end profiling with real software on both sides: the real Python osprofiler library
# signs requests, zaqar-server traces them and exports over OTLP (HTTP/protobuf, then gRPC)
# to a real trace backend (Arize Phoenix), and the trace is read back through Phoenix's API.
# The server pools its queues: the router's span must name the pool it chose.
#
# usage: tests/e2e/profiling.sh [SERVER_BINARY]   (default target/debug/zaqar-server)
# Installs Python packages from PyPI into .test-env/venv on first use (about a minute).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh
root=$PWD
server_bin=${1:-$root/target/debug/zaqar-server}
venv=$root/.test-env/venv
if ! "$venv/bin/python" -c "import phoenix.server.main, osprofiler, requests" 2>/dev/null; then
    echo "installing arize-phoenix and osprofiler into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "arize-phoenix==20.26.1" "osprofiler==4.4.0" requests
fi


work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export PHOENIX_HOST=127.0.0.1 PHOENIX_PORT=$(free_port) PHOENIX_GRPC_PORT=$(free_port)
export PHOENIX_WORKING_DIR=$work/phoenix PHOENIX_TELEMETRY_ENABLED=false
export PHOENIX_ALLOW_EXTERNAL_RESOURCES=false PHOENIX_LOG_MIGRATIONS=false
mkdir -p "$PHOENIX_WORKING_DIR"
"$venv/bin/python" tests/e2e/phoenix_launch.py serve >"$work/phoenix.log" 2>&1 &
pids+=($!)
if ! wait_port "$PHOENIX_PORT" 180; then
    tail -20 "$work/phoenix.log"; echo "Phoenix did not start"; exit 1
fi
phoenix=http://127.0.0.1:$PHOENIX_PORT

run_case() { # protocol endpoint project
    local protocol=$1 endpoint=$2 project=$3 port
    port=$(free_port)
    cat >"$work/zaqar-$project.toml" <<TOML
[server]
admin_mode = true
[storage]
message_store = "sqlite://$work/$project.db"
[pooling]
enabled = true
[profiler]
enabled = true
otlp_protocol = "$protocol"
otlp_endpoint = "$endpoint"
service_name = "zaqar-e2e"
# Phoenix files spans under this resource attribute.
resource_attributes = { "openinference.project.name" = "$project" }
TOML
    ZAQAR_PROFILER_HMAC_KEYS="other-key,SECRET_KEY" \
        "$server_bin" --config "$work/zaqar-$project.toml" --bind "127.0.0.1:$port" 2>"$work/server-$project.log" &
    local server=$!
    wait_port "$port" 30
    # A pool of its own: the trace must show the router choosing it.
    curl -sf -X PUT -H "Client-ID: $(python3 -c 'import uuid; print(uuid.uuid4())')" \
        -H "X-Project-ID: e2e" -H "X-Roles: admin" -H "Content-Type: application/json" \
        -d "{\"weight\": 1, \"uri\": \"sqlite://$work/$project-pool.db\"}" \
        "http://127.0.0.1:$port/v2/pools/$project-pool" >/dev/null
    local base_id
    base_id=$("$venv/bin/python" tests/e2e/profiled_request.py "http://127.0.0.1:$port" SECRET_KEY | tail -n 1)
    # A graceful stop flushes the batched spans.
    kill -TERM "$server"
    wait "$server"
    grep -q "zaqar-server stopped" "$work/server-$project.log"
    if grep -q "SECRET_KEY" "$work/server-$project.log"; then
        echo "the HMAC key reached the server log"; exit 1
    fi
    echo "== $protocol: trace ${base_id//-/} in Phoenix project $project"
    "$venv/bin/python" tests/e2e/read_trace.py "$phoenix" "$project" "${base_id//-/}" \
        "POST /v2/queues/{queue}/messages" "PoolRouter PostMessages@zaqar.pool=$project-pool" \
        "PoolRouter PostMessages@zaqar.placement=weighted" "SqlStore PostMessages" "SQL INSERT"
}

run_case http/protobuf "$phoenix" e2e-http
run_case grpc "http://127.0.0.1:$PHOENIX_GRPC_PORT" e2e-grpc
echo "profiling end to end: 2 passed, 0 failed"
