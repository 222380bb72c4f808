# Shell helpers shared by the test and benchmark scripts (source it). The start_* functions
# return non-zero when their backend cannot be installed or started; callers name it and stop.

# A TCP port free on 127.0.0.1 right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something accepts connections on 127.0.0.1:PORT
# (default 30 s); fails if nothing does in time.
wait_port() {
    python3 - "$1" "${2:-30}" <<'PY'
import socket, sys, time
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

# start_postgres: installs PostgreSQL from Debian's packages if missing, starts a throwaway
# server on a free loopback port (fsync off: test data only; PG_FSYNC=on for a durable one,
# as the benchmarks of durable writes and the crash test want) and sets PG_URI, PG_VERSION;
# stop_postgres removes it. initdb refuses to run as root: the server then runs as postgres.
start_postgres() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    PG_BIN=$bin
    PG_DIR=$(mktemp -d)
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
    local port
    port=$(free_port)
    _as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U zaqar >/dev/null || return 1
    _as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
        -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off}" start >/dev/null || return 1
    PG_URI="postgres://zaqar@127.0.0.1:$port/postgres"
    PG_VERSION=$("$PG_BIN/postgres" --version)
    # For the failure test, which stops and restarts this server itself.
    local as=""
    [ "$(id -u)" = 0 ] && as="runuser -u postgres --"
    PG_STOP_CMD="$as $PG_BIN/pg_ctl -D $PG_DIR/data -m immediate stop"
    PG_START_CMD="$as $PG_BIN/pg_ctl -D $PG_DIR/data -l $PG_DIR/log -w -o '-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off}' start"
    # For the frozen-database test: stops (and continues) the postmaster and every backend.
    local pids="\$(head -n 1 $PG_DIR/data/postmaster.pid) \$(pgrep -P \$(head -n 1 $PG_DIR/data/postmaster.pid) | tr '\\n' ' ')"
    PG_FREEZE_CMD="kill -STOP $pids"
    PG_THAW_CMD="kill -CONT $pids"
    # For the crash test: SIGKILL to the postmaster and every backend (a crash; the restart
    # replays the WAL), then PG_START_CMD.
    PG_KILL_CMD="pid=\$(head -n 1 $PG_DIR/data/postmaster.pid); kill -KILL $pids; while kill -0 \$pid 2>/dev/null; do sleep 0.05; done"
}
_as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_postgres() {
    [ -n "${PG_DIR:-}" ] || return 0
    _as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=
}

# start_redis: installs redis-server from Debian's packages if missing, starts a throwaway
# server on a free loopback port (no persistence; REDIS_APPENDFSYNC=always or everysec for an
# append-only file synced so) and sets REDIS_URI, REDIS_VERSION; stop_redis removes it.
start_redis() {
    if ! command -v redis-server >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null || return 1
    fi
    REDIS_DIR=$(mktemp -d)
    local port
    port=$(free_port)
    local aof=(--appendonly no)
    [ -n "${REDIS_APPENDFSYNC:-}" ] && aof=(--appendonly yes --appendfsync "$REDIS_APPENDFSYNC")
    local args="--port $port --bind 127.0.0.1 --dir $REDIS_DIR --save '' ${aof[*]} --daemonize yes --pidfile $REDIS_DIR/redis.pid"
    eval "redis-server $args" >/dev/null || return 1
    wait_port "$port" || return 1
    # For the crash test: SIGKILL, and the same server started again on its files.
    REDIS_KILL_CMD="pid=\$(cat $REDIS_DIR/redis.pid); kill -KILL \$pid; while kill -0 \$pid 2>/dev/null; do sleep 0.05; done"
    REDIS_START_CMD="redis-server $args >/dev/null && python3 -c 'import socket, time
for _ in range(100):
    try: socket.create_connection((\"127.0.0.1\", $port)).close(); break
    except OSError: time.sleep(0.1)'"
    REDIS_URI="redis://127.0.0.1:$port/0"
    REDIS_VERSION=$(redis-server --version | cut -d' ' -f3)
}
stop_redis() {
    [ -n "${REDIS_DIR:-}" ] || return 0
    kill "$(cat "$REDIS_DIR/redis.pid" 2>/dev/null)" 2>/dev/null || true
    rm -rf "$REDIS_DIR"
    REDIS_DIR=
}

# start_mongo: installs NX-27017 (a MongoDB-wire-compatible server over SQLite, from PyPI;
# no real mongod can be installed here) into .test-env/nx once, starts it on a free loopback
# port with its data in a temporary directory, and sets MONGO_URI; stop_mongo removes it.
start_mongo() {
    local venv=.test-env/nx
    if ! "$venv/bin/python" -c "import nx_27017, neosqlite" 2>/dev/null; then
        python3 -m venv "$venv" || return 1
        "$venv/bin/pip" install -q "nx-27017==0.8.1" "neosqlite==1.17.2" || return 1
    fi
    MONGO_DIR=$(mktemp -d)
    local port
    port=$(free_port)
    (cd "$MONGO_DIR" && exec "$OLDPWD/$venv/bin/nx-27017" --host 127.0.0.1 -p "$port" \
        --data-dir "$MONGO_DIR/data" --log-file "$MONGO_DIR/log" --pid-file "$MONGO_DIR/nx.pid") \
        >"$MONGO_DIR/out" 2>&1 &
    MONGO_PID=$!
    if ! wait_port "$port" 60; then
        cat "$MONGO_DIR/out" >&2
        echo "NX-27017 (MongoDB-compatible server) did not start" >&2
        return 1
    fi
    MONGO_URI="mongodb://127.0.0.1:$port/zaqar?directConnection=true"
}
stop_mongo() {
    [ -n "${MONGO_DIR:-}" ] || return 0
    kill "$MONGO_PID" 2>/dev/null || true
    wait "$MONGO_PID" 2>/dev/null || true
    rm -rf "$MONGO_DIR"
    MONGO_DIR=
}

# start_keystone: installs a real OpenStack Keystone (PyPI `keystone`, on SQLite, under
# gunicorn) into .test-env/keystone once, bootstraps a throwaway one in a temporary directory
# on a free loopback port, and sets KEYSTONE_URL (its /v3). Users (password: name + "-pw"):
# admin (admin on project admin), zaqar (service + admin on project service: the server's
# own account), alice (member on demo), bob (member on other). stop_keystone removes it.
start_keystone() {
    local venv=.test-env/keystone
    if [ ! -x "$venv/bin/keystone-manage" ] || [ ! -x "$venv/bin/gunicorn" ]; then
        python3 -m venv "$venv" || return 1
        "$venv/bin/pip" install -q "keystone==30.0.0" gunicorn || return 1
    fi
    KEYSTONE_DIR=$(mktemp -d)
    local port
    port=$(free_port)
    local url="http://127.0.0.1:$port"
    mkdir -p "$KEYSTONE_DIR/fernet" "$KEYSTONE_DIR/credential"
    chmod 700 "$KEYSTONE_DIR/fernet" "$KEYSTONE_DIR/credential"
    cat > "$KEYSTONE_DIR/keystone.conf" <<CONF
[database]
connection = sqlite:///$KEYSTONE_DIR/keystone.db
[fernet_tokens]
key_repository = $KEYSTONE_DIR/fernet
[credential]
key_repository = $KEYSTONE_DIR/credential
[token]
provider = fernet
CONF
    # keystone's WSGI app parses sys.argv with oslo.config: hide gunicorn's arguments from it.
    printf 'import sys\nsys.argv = sys.argv[:1]\nfrom keystone.wsgi.api import application  # noqa\n' \
        > "$KEYSTONE_DIR/ks_wsgi.py"
    local km=("$venv/bin/keystone-manage" --config-file "$KEYSTONE_DIR/keystone.conf")
    {
        "${km[@]}" db_sync &&
        "${km[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" &&
        "${km[@]}" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" &&
        "${km[@]}" bootstrap --bootstrap-password admin-pw --bootstrap-public-url "$url/v3" \
            --bootstrap-internal-url "$url/v3" --bootstrap-admin-url "$url/v3" \
            --bootstrap-region-id RegionOne
    } > "$KEYSTONE_DIR/setup.log" 2>&1 || { cat "$KEYSTONE_DIR/setup.log" >&2; return 1; }
    OS_KEYSTONE_CONFIG_FILES="$KEYSTONE_DIR/keystone.conf" PYTHONPATH="$KEYSTONE_DIR" \
        "$venv/bin/gunicorn" --bind "127.0.0.1:$port" --workers 1 --threads 4 \
        --pid "$KEYSTONE_DIR/keystone.pid" ks_wsgi:application \
        > "$KEYSTONE_DIR/keystone.log" 2>&1 < /dev/null &
    KEYSTONE_PID=$!
    if ! wait_port "$port" 60; then
        cat "$KEYSTONE_DIR/keystone.log" >&2
        return 1
    fi
    "$venv/bin/python" - "$url/v3" <<'PY' || return 1
import json, sys, time, urllib.request
url = sys.argv[1]
def call(method, path, body=None, token=None):
    h = {'Content-Type': 'application/json'}
    if token: h['X-Auth-Token'] = token
    r = urllib.request.Request(url + path, method=method, headers=h,
                               data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(r) as resp:
        t = resp.read(); return resp.headers, (json.loads(t) if t else None)
for _ in range(100):
    try:
        call('GET', ''); break
    except Exception:
        time.sleep(0.2)
hdr, _ = call('POST', '/auth/tokens', {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"id": "default"}, "password": "admin-pw"}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
tok = hdr['X-Subject-Token']
roles = {r['name']: r['id'] for r in call('GET', '/roles', token=tok)[1]['roles']}
if 'service' not in roles:
    roles['service'] = call('POST', '/roles', {"role": {"name": "service"}}, tok)[1]['role']['id']
projects = {}
for p in ('service', 'demo', 'other'):
    projects[p] = call('POST', '/projects', {"project": {"name": p, "domain_id": "default"}}, tok)[1]['project']['id']
for user, proj, rls in (('zaqar', 'service', ('service', 'admin')), ('alice', 'demo', ('member',)),
                        ('bob', 'other', ('member',))):
    uid = call('POST', '/users', {"user": {"name": user, "domain_id": "default", "password": user + "-pw"}}, tok)[1]['user']['id']
    for r in rls:
        call('PUT', f"/projects/{projects[proj]}/users/{uid}/roles/{roles[r]}", token=tok)
PY
    KEYSTONE_URL="$url/v3"
}
# keystone_server_conf KEYSTONE_V3_URL: the configuration of a server in keystone mode with
# the users of start_keystone: admin mode and pooling on, its service user zaqar (project
# service), which is also the trustee of trust subscriptions. Callers append their sections.
keystone_server_conf() {
    cat <<TOML
[server]
admin_mode = true
[pooling]
enabled = true
[auth]
strategy = "keystone"
[keystone_authtoken]
auth_url = "$1"
username = "zaqar"
password = "zaqar-pw"
project_name = "service"
[trustee]
auth_url = "$1"
username = "zaqar"
password = "zaqar-pw"
user_domain_id = "default"
TOML
}
stop_keystone() {
    [ -n "${KEYSTONE_DIR:-}" ] || return 0
    kill "$KEYSTONE_PID" 2>/dev/null || true
    wait "$KEYSTONE_PID" 2>/dev/null || true
    rm -rf "$KEYSTONE_DIR"
    KEYSTONE_DIR=
}

# need BACKEND start_function: runs it, or stops the whole run naming the backend.
need() {
    if ! "$2"; then
        echo "FAILED: the $1 backend could not be installed or started; nothing was skipped" >&2
        exit 1
    fi
}
