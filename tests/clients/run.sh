#!/usr/bin/env bash
# The real python-zaqarclient (4.7.0, from PyPI, unchanged) against zaqar-server:
#   1. the client's own functional tests (from its source release), and
#   2. tests/clients/zaqarclient_suite.py: every high-level operation and the low-level
#      `core` calls, asserting what Zaqar 23 answers (the same file passes against it).
#
#   tests/clients/run.sh SERVER_BINARY [MESSAGE_STORE_URI]
#
# Installs into .test-env/clients on first use. The server runs in admin mode with pooling
# (so flavors and health answer), on the given store or a fresh SQLite file.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh
binary=$1
store=${2:-}
venv=.test-env/clients
version=4.7.0
if ! "$venv/bin/python" -c "import zaqarclient, testtools, fixtures, ddt, pytest" 2>/dev/null; then
    echo "installing python-zaqarclient $version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "python-zaqarclient==$version" testtools fixtures ddt pytest
fi
src=$venv/src/python_zaqarclient-$version
if [ ! -d "$src/tests/functional" ]; then
    mkdir -p "$venv/src"
    "$venv/bin/pip" download -q --no-deps --no-binary :all: "python-zaqarclient==$version" -d "$venv/src"
    tar -xzf "$venv/src/python_zaqarclient-$version.tar.gz" -C "$venv/src"
fi

work=$(mktemp -d)
trap 'kill "${server_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
{
    printf '[server]\nadmin_mode = true\n[pooling]\nenabled = true\n[signed_url]\nsecret_key = "clients-signing-key"\n'
    printf '[storage]\ngc_interval = 0\n'
    [ -n "$store" ] && printf 'message_store = "%s"\n' "$store"
} >"$work/zaqar.toml"
port=$(free_port)
(cd "$work" && exec "$OLDPWD/$binary" --config zaqar.toml --bind "127.0.0.1:$port") >"$work/server.log" 2>&1 &
server_pid=$!
wait_port "$port"
export ZAQAR_ENDPOINT="http://127.0.0.1:$port" ZAQARCLIENT_TEST_FUNCTIONAL=1

# Left out, each for a reason that holds against Zaqar 23 as well (tests/clients/README.md):
# pools, flavors and health need admin credentials, which the client sends only with
# Keystone; test_queue_exists_functional and the two metadata tests expect answers of older
# Zaqar releases (404 for a queue never created, metadata without _enable_encrypt_messages).
# test_signed_url runs: it signs a URL and reads the queue with the `signed-url` backend.
skip="not Pool and not Flavor and not Health and not exists_functional"
skip="$skip and not test_queue_metadata_functional and not metadata_reload_functional"
(cd "$src" && "$OLDPWD/$venv/bin/python" -m pytest -q -p no:cacheprovider tests/functional -k "$skip") \
    || { tail -n 50 "$work/server.log"; exit 1; }
"$venv/bin/python" -m unittest -v tests/clients/zaqarclient_suite.py 2>&1 | tail -n 25
[ "${PIPESTATUS[0]}" -eq 0 ] || { tail -n 50 "$work/server.log"; exit 1; }
