#!/usr/bin/env bash
# Load benchmark: the same load generator against a bare actix-web server (this machine's
# HTTP ceiling) and against zaqar-server on the embedded SQLite store, in one run, so the
# ratio between the two is what to compare across machines.
#
#   bash benches/load.sh [SECONDS] [extra loadgen flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
source benches/lib.sh

start_bare
(cd "$work" && exec "$OLDPWD/target/release/zaqar-server" --bind 127.0.0.1:18888) 2>"$work/server.log" &
server_pid=$!
pids+=($server_pid)
wait_port 18888

echo "## bare actix-web handler (HTTP ceiling)"
target/release/examples/loadgen --url http://127.0.0.1:18890 --duration "$seconds" "$@" | tee "$work/bare.txt"
echo
echo "## zaqar-server, embedded SQLite"
ticks_before=$(cpu_ticks "$server_pid")
target/release/examples/loadgen --url http://127.0.0.1:18888 --duration "$seconds" "$@" | tee "$work/zaqar.txt"
ticks_after=$(cpu_ticks "$server_pid")
echo
bare=$(awk '$1=="total"{print $3}' "$work/bare.txt")
zaqar=$(awk '$1=="total"{print $3}' "$work/zaqar.txt")
requests=$(awk '$1=="total"{print $2}' "$work/zaqar.txt")
python3 - "$bare" "$zaqar" "$((ticks_after - ticks_before))" "$(getconf CLK_TCK)" "$requests" <<'PY'
import sys
bare, zaqar, ticks, hz, requests = map(float, sys.argv[1:])
print(f"zaqar-server / bare: {zaqar:.0f} / {bare:.0f} req/s = {zaqar / bare:.2f}")
print(f"zaqar-server CPU per request: {ticks / hz / requests * 1e6:.0f} us")
PY
