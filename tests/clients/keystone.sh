#!/usr/bin/env bash
# python-zaqarclient (keystone backend) and `openstack messaging` (python-openstackclient
# 10.5.0, from PyPI) against zaqar-server in keystone mode, with the users of a running
# Keystone (tests/lib.sh start_keystone). tests/run.sh runs it.
#
#   tests/clients/keystone.sh SERVER_BINARY KEYSTONE_V3_URL
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh
binary=$1
keystone=$2
venv=.test-env/clients
if ! "$venv/bin/python" -c "import zaqarclient, openstackclient" 2>/dev/null \
    || [ ! -x "$venv/bin/openstack" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "python-zaqarclient==4.7.0" "python-openstackclient==10.5.0"
fi
work=$(mktemp -d)
trap 'kill "${server_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/zaqar.toml" <<TOML
[server]
admin_mode = true
[pooling]
enabled = true
[signed_url]
secret_key = "clients-signing-key"
[auth]
strategy = "keystone"
[keystone_authtoken]
auth_url = "$keystone"
username = "zaqar"
password = "zaqar-pw"
project_name = "service"
TOML
port=$(free_port)
(cd "$work" && exec "$OLDPWD/$binary" --config zaqar.toml --bind "127.0.0.1:$port") >"$work/server.log" 2>&1 &
server_pid=$!
wait_port "$port"
"$venv/bin/python" tests/tempest/register_endpoint.py "http://127.0.0.1:$port" "$keystone" >/dev/null
KEYSTONE="$keystone" ZAQAR_ENDPOINT="http://127.0.0.1:$port" \
    "$venv/bin/python" tests/clients/keystone_suite.py 2>&1 | tail -n 30
[ "${PIPESTATUS[0]}" -eq 0 ] || { tail -n 50 "$work/server.log"; exit 1; }
