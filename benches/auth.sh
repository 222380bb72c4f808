#!/usr/bin/env bash
# What Keystone authentication costs: the same load against the bare ceiling, zaqar-server
# in noauth mode and zaqar-server in keystone mode (one user's token, validated once, then
# from the cache), in one run. Starts a real Keystone (tests/lib.sh start_keystone).
#
#   bash benches/auth.sh [SECONDS] [extra loadgen flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
source benches/lib.sh
need Keystone start_keystone
trap 'stop_keystone; bench_cleanup' EXIT
token=$(python3 - "$KEYSTONE_URL" <<'PY'
import json, sys, urllib.request
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "alice", "domain": {"id": "default"}, "password": "alice-pw"}}},
    "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}
r = urllib.request.Request(sys.argv[1] + "/auth/tokens", data=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"}, method="POST")
with urllib.request.urlopen(r) as resp:
    print(resp.headers["X-Subject-Token"])
PY
)
start_bare
mkdir -p "$work/noauth" "$work/keystone"
(cd "$work/noauth" && exec "$OLDPWD/target/release/zaqar-server" --bind 127.0.0.1:18888) 2>"$work/noauth.log" &
pids+=($!)
cat >"$work/keystone/zaqar.toml" <<TOML
[auth]
strategy = "keystone"
[keystone_authtoken]
auth_url = "$KEYSTONE_URL"
username = "zaqar"
password = "zaqar-pw"
project_name = "service"
TOML
(cd "$work/keystone" && exec "$OLDPWD/target/release/zaqar-server" --config zaqar.toml --bind 127.0.0.1:18889) 2>"$work/keystone.log" &
pids+=($!)
wait_port 18888
wait_port 18889
run() { target/release/examples/loadgen --duration "$seconds" "$@" | tee "$work/$label.txt"; echo; }
echo "## bare actix-web handler (HTTP ceiling)"; label=bare run --url http://127.0.0.1:18890 "$@"
echo "## zaqar-server, noauth"; label=noauth run --url http://127.0.0.1:18888 "$@"
echo "## zaqar-server, keystone (cached token)"
label=keystone run --url http://127.0.0.1:18889 --auth-token "$token" "$@"
echo "| mode | req/s | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|"
for label in bare noauth keystone; do total_row "$label" "$work/$label.txt"; done
python3 - "$work" <<'PY'
import sys
def total(label):
    for line in open(f"{sys.argv[1]}/{label}.txt"):
        f = line.split()
        if f and f[0] == "total":
            return float(f[2])
bare, noauth, keystone = total("bare"), total("noauth"), total("keystone")
print(f"noauth / bare = {noauth / bare:.2f}; keystone / bare = {keystone / bare:.2f}; keystone / noauth = {keystone / noauth:.2f}")
PY
