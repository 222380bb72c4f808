#!/usr/bin/env bash
# Zaqar's own API suite (zaqar-tempest-plugin 4.3.0, tempest with dynamic credentials)
# against zaqar-server on its embedded store. A MEASUREMENT RECIPE, not part of .ci/run yet:
# tempest's messaging client sends a Keystone token and no X-Project-ID, so until the server
# validates tokens itself (issue 13) keystone_shim.py stands in front of it, validating each
# token with Keystone and passing project and roles on, as keystonemiddleware does.
#
#   KEYSTONE=http://127.0.0.1:5055/v3 tests/tempest/run.sh target/debug/zaqar-server
#
# Needs a running Keystone with an admin/admin-pw bootstrap user
# (../shared/tools/start-keystone.sh). Installs tempest into .test-env/tempest.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh
binary=$1
keystone=${KEYSTONE:-http://127.0.0.1:5055/v3}
venv=.test-env/tempest
if [ ! -x "$venv/bin/tempest" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q tempest "zaqar-tempest-plugin==4.3.0"
fi
work=$(mktemp -d)
trap 'kill "${server_pid:-}" "${shim_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
printf '[server]\nadmin_mode = true\n[pooling]\nenabled = true\n' >"$work/zaqar.toml"
port=$(free_port)
(cd "$work" && exec "$OLDPWD/$binary" --config zaqar.toml --bind "127.0.0.1:$port") >"$work/server.log" 2>&1 &
server_pid=$!
wait_port "$port"
shim=$(free_port)
"$venv/bin/python" tests/tempest/keystone_shim.py "$keystone" "http://127.0.0.1:$port" "$shim" &
shim_pid=$!
wait_port "$shim"
"$venv/bin/python" tests/tempest/register_endpoint.py "http://127.0.0.1:$shim" "$keystone"
(cd "$work" && "$OLDPWD/$venv/bin/tempest" init --name "zaqar-$(basename "$work")" ws >/dev/null 2>&1)
cat >"$work/ws/etc/tempest.conf" <<CONF
[auth]
use_dynamic_credentials = True
create_isolated_networks = False
admin_username = admin
admin_password = admin-pw
admin_project_name = admin
admin_domain_name = Default
[identity]
uri_v3 = $keystone
auth_version = v3
region = RegionOne
[identity-feature-enabled]
api_v2 = False
[service_available]
zaqar = True
neutron = False
nova = False
glance = False
cinder = False
swift = False
[messaging]
catalog_type = messaging
CONF
cd "$work/ws" && "$OLDPWD/$venv/bin/tempest" run --regex zaqar_tempest_plugin --concurrency 1
