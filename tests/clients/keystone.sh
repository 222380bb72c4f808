#!/usr/bin/env bash
# python-zaqarclient (keystone and signed-url backends) and `openstack messaging`
# (python-openstackclient 10.5.0, from PyPI) against zaqar-server in keystone mode, with the
# users of a running Keystone (tests/lib.sh start_keystone). `openstack --os-profile` is
# traced: the server exports to an OTLP sink of our own (otlp_sink.py), and once the server
# has stopped (flushing its spans) every exported trace must be one the suite signed.
# tests/run.sh runs it.
#
#   tests/clients/keystone.sh SERVER_BINARY KEYSTONE_V3_URL
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh
binary=$1
keystone=$2
venv=.test-env/clients
if ! "$venv/bin/python" -c "import zaqarclient, openstackclient, osprofiler, opentelemetry.proto" 2>/dev/null \
    || [ ! -x "$venv/bin/openstack" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "python-zaqarclient==4.7.0" "python-openstackclient==10.5.0" \
        "osprofiler==4.4.0" "opentelemetry-proto==1.39.1"
fi
work=$(mktemp -d)
trap 'kill "${server_pid:-}" "${sink_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
sink_port=$(free_port)
"$venv/bin/python" tests/clients/otlp_sink.py "$sink_port" "$work/spans.jsonl" &
sink_pid=$!
wait_port "$sink_port"
profile_key="clients-profile-key"
{
    keystone_server_conf "$keystone"
    cat <<TOML
[signed_url]
secret_key = "clients-signing-key"
[profiler]
enabled = true
hmac_keys = "$profile_key"
otlp_protocol = "http/protobuf"
otlp_endpoint = "http://127.0.0.1:$sink_port"
TOML
} >"$work/zaqar.toml"
port=$(free_port)
(cd "$work" && exec "$OLDPWD/$binary" --config zaqar.toml --bind "127.0.0.1:$port") >"$work/server.log" 2>&1 &
server_pid=$!
wait_port "$port"
"$venv/bin/python" tests/tempest/register_endpoint.py "http://127.0.0.1:$port" "$keystone" >/dev/null
mkdir -p "$work/pools"
KEYSTONE="$keystone" ZAQAR_ENDPOINT="http://127.0.0.1:$port" PROFILE_KEY="$profile_key" \
    SPANS="$work/spans.jsonl" TRACES="$work/traces.json" POOL_DIR="$work/pools" \
    "$venv/bin/python" tests/clients/keystone_suite.py 2>&1 | tail -n 30
[ "${PIPESTATUS[0]}" -eq 0 ] || { tail -n 50 "$work/server.log"; exit 1; }
# A graceful stop flushes what is batched: then every exported span must belong to a
# trace the suite signed with the server's key.
kill -TERM "$server_pid"
wait "$server_pid" || true
"$venv/bin/python" - "$work/spans.jsonl" "$work/traces.json" <<'PY'
import json, sys
spans = [json.loads(line) for line in open(sys.argv[1])]
traces = json.load(open(sys.argv[2]))
seen = {s["trace_id"] for s in spans}
assert seen == set(traces["traced"]), f"exported traces {seen}, signed {traces['traced']}"
assert not seen & set(traces["untraced"])
print(f"profiling: {len(spans)} spans exported, all of the signed trace")
PY
if grep -q -e "$profile_key" -e "zaqar-pw" "$work/server.log"; then
    echo "a secret reached the server log"; exit 1
fi
