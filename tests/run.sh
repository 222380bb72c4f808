#!/usr/bin/env bash
# The whole test suite, from a fresh clone: formatting, lints, unit tests, HTTP-level tests
# against a real server on 127.0.0.1 with real SQLite files, and (when ../shared is beside the
# clone) the recorded Zaqar transcript compared against this server.
#
# Backends: the embedded SQLite store needs nothing installed; PostgreSQL is installed from
# Debian's packages when missing and started here on loopback, in a temporary directory;
# so is Redis; MongoDB is NX-27017 (wire-compatible, from PyPI, installed into .test-env/).
# Profiling end to end installs the real osprofiler library and the Phoenix trace backend
# from PyPI into .test-env/ (once) and starts Phoenix on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib.sh
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }

step "toolchain"
cargo --version
if ! command -v python3 >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3 >/dev/null
fi

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets -- -D warnings
# The build without the profiler feature (no tracing code in the actor path) must hold too.
cargo clippy --workspace --all-targets --no-default-features -- -D warnings

step "tests (SQLite)"
cargo test --workspace
# The same HTTP suite with pooling on: every request goes through the catalog.
ZAQAR_TEST_POOLING=1 cargo test --test api

step "Keystone auth (a real Keystone 30.0.0, installed from PyPI on first run)"
need Keystone start_keystone
trap stop_keystone EXIT
# One test at a time: Keystone on SQLite answered a login 500 while both tests logged
# users in at once (CI, 2026-12-01).
ZAQAR_TEST_KEYSTONE="$KEYSTONE_URL" cargo test --test keystone -- --test-threads=1
# The auth span and its Keystone calls in a traced request's tree.
ZAQAR_TEST_KEYSTONE="$KEYSTONE_URL" cargo test --test profiler token_validation
step "Zaqar's API suite (zaqar-tempest-plugin 4.3.0) through that Keystone"
KEYSTONE="$KEYSTONE_URL" TEMPEST_EXCLUDE=test_trust_subscription \
    bash tests/tempest/run.sh target/debug/zaqar-server
step "python-zaqarclient (keystone, signed-url) and openstack messaging (--os-profile too) through that Keystone"
bash tests/clients/keystone.sh target/debug/zaqar-server "$KEYSTONE_URL"
stop_keystone
trap - EXIT

# PostgreSQL, Redis and MongoDB: throwaway servers on loopback, all up at once (pooling
# spreads one server's queues over all of them); then the HTTP tests again on each.
need PostgreSQL start_postgres
trap stop_postgres EXIT
need Redis start_redis
trap 'stop_postgres; stop_redis' EXIT
# MongoDB: the wire-compatible NX-27017 (see README, "Backends").
need "MongoDB (NX-27017)" start_mongo
trap 'stop_postgres; stop_redis; stop_mongo' EXIT

step "tests (PostgreSQL, $PG_VERSION)"
ZAQAR_TEST_MESSAGE_STORE="$PG_URI" cargo test --test api --test scale_out --test crash --test fuzz
ZAQAR_CONTRACT_STORE="$PG_URI" cargo test --workspace --test contract
# A traced post and delete: each statement and the gathered one (SQL BATCH) it went in with.
ZAQAR_TEST_PG_URI="$PG_URI" cargo test --test profiler postgres
ZAQAR_TEST_MESSAGE_STORE="$PG_URI" ZAQAR_TEST_POOLING=1 cargo test --test api
# Stops and restarts this PostgreSQL while a server uses it.
ZAQAR_TEST_PG_URI="$PG_URI" ZAQAR_TEST_PG_STOP="$PG_STOP_CMD" ZAQAR_TEST_PG_START="$PG_START_CMD" \
    ZAQAR_TEST_PG_FREEZE="$PG_FREEZE_CMD" ZAQAR_TEST_PG_THAW="$PG_THAW_CMD" \
    cargo test --test backend_failure postgres -- --test-threads=1

step "tests (Redis $REDIS_VERSION)"
ZAQAR_TEST_MESSAGE_STORE="$REDIS_URI" cargo test --test api --test scale_out --test crash --test fuzz
ZAQAR_CONTRACT_STORE="$REDIS_URI" cargo test --workspace --test contract
ZAQAR_TEST_MESSAGE_STORE="$REDIS_URI" ZAQAR_TEST_POOLING=1 cargo test --test api
ZAQAR_TEST_REDIS_URI="$REDIS_URI" cargo test --test profiler redis
# Stops, freezes and restarts a Redis of its own while a server uses it; upgrades layout-1 data.
ZAQAR_TEST_REDIS_SERVER=redis-server cargo test --test backend_failure redis
ZAQAR_TEST_REDIS_SERVER=redis-server cargo test --test redis_layout

step "python-zaqarclient 4.7.0 (SQLite, then Redis)"
bash tests/clients/run.sh target/debug/zaqar-server
bash tests/clients/run.sh target/debug/zaqar-server "$REDIS_URI"

step "tests (MongoDB wire protocol: NX-27017 0.8.1)"
ZAQAR_TEST_MESSAGE_STORE="$MONGO_URI" cargo test --test api --test scale_out --test crash --test fuzz
ZAQAR_CONTRACT_STORE="$MONGO_URI" cargo test --workspace --test contract
ZAQAR_TEST_MESSAGE_STORE="$MONGO_URI" ZAQAR_TEST_POOLING=1 cargo test --test api
ZAQAR_TEST_MONGO_URI="$MONGO_URI" cargo test --test profiler mongo

# Pools on SQLite, Redis and MongoDB in one server; the catalog (management store) on each
# backend in turn. One test at a time: they share the management store.
export ZAQAR_TEST_REDIS_URI="$REDIS_URI" ZAQAR_TEST_MONGO_URI="$MONGO_URI" ZAQAR_TEST_REDIS_SERVER=redis-server
for management in "" "$PG_URI" "${REDIS_URI%/0}/9" "${MONGO_URI/\/zaqar\?//zaqar_catalog?}"; do
    step "pooling (management store: ${management%%:*}${management:+ }${management:-SQLite})"
    ZAQAR_TEST_MANAGEMENT_STORE="$management" cargo test --test pooling -- --test-threads=1
done
unset ZAQAR_TEST_REDIS_URI ZAQAR_TEST_MONGO_URI ZAQAR_TEST_REDIS_SERVER
stop_postgres
stop_redis
stop_mongo

# The crash test again, the database killed with the server (SIGKILL to both, under a
# posting load): PostgreSQL with fsync on, Redis with appendfsync always.
step "crash: server and database killed (PostgreSQL fsync = on, Redis appendfsync = always)"
PG_FSYNC=on need "PostgreSQL (fsync on)" start_postgres
ZAQAR_TEST_CRASH_STORE="$PG_URI" ZAQAR_TEST_CRASH_KILL="$PG_KILL_CMD" ZAQAR_TEST_CRASH_START="$PG_START_CMD" \
    cargo test --test crash database_killed
stop_postgres
REDIS_APPENDFSYNC=always need "Redis (appendfsync always)" start_redis
ZAQAR_TEST_CRASH_STORE="$REDIS_URI" ZAQAR_TEST_CRASH_KILL="$REDIS_KILL_CMD" ZAQAR_TEST_CRASH_START="$REDIS_START_CMD" \
    cargo test --test crash database_killed
stop_redis
trap - EXIT

step "profiling end to end (osprofiler -> zaqar-server -> OTLP -> Phoenix)"
bash tests/e2e/profiling.sh target/debug/zaqar-server

transcript_tools=../shared/tools
if [ -f "$transcript_tools/gen-transcript.py" ]; then
    step "Zaqar v2 transcript (admin mode, pooling; the pool rows register the Redis on :6399)"
    work=$(mktemp -d)
    trap 'kill "${server_pid:-}" 2>/dev/null || true; kill "$(cat "$work/redis6399.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
    # The recorded requests register redis://127.0.0.1:6399/3 as a pool: it must answer.
    # A Redis already there (the Zaqar 23 peer's, say) serves; else one is started here.
    if ! redis-cli -p 6399 ping >/dev/null 2>&1; then
        redis-server --port 6399 --bind 127.0.0.1 --dir "$work" --save "" --appendonly no \
            --daemonize yes --pidfile "$work/redis6399.pid" >/dev/null
    fi
    wait_port 6399
    printf '[server]\nadmin_mode = true\n[pooling]\nenabled = true\n' >"$work/zaqar.toml"
    port=$(free_port)
    (cd "$work" && exec "$OLDPWD/target/debug/zaqar-server" --config zaqar.toml --bind "127.0.0.1:$port") >"$work/server.log" 2>&1 &
    server_pid=$!
    wait_port "$port"
    python3 "$transcript_tools/gen-transcript.py" "http://127.0.0.1:$port" "$work/ours.md" --normalise
    [ -f "$work/redis6399.pid" ] && kill "$(cat "$work/redis6399.pid")"
    # Skipped rows belong to later issues (subscriptions' notifications, signed URLs, topics)
    # or record Zaqar bugs: include_claimed without marker, health detail, and the queue that
    # Zaqar cannot create after it refused a pool (here it is created: 201). Zaqar answers
    # 406 with no body, and 404 (unknown path, /v2 without its slash) and 405 with a title
    # only; every error of ours has a description too (README, "Differences from Zaqar"), so
    # those four rows differ in shape on purpose.
    python3 "$transcript_tools/compare-transcripts.py" ../shared/reference/zaqar-v2-transcript.md "$work/ours.md" \
        --skip 'subscri|signed url|topics|without marker|health with|after the rejected pool|Accept: text/plain|wrong method|unknown path|no trailing slash'
else
    step "Zaqar v2 transcript: skipped (no ../shared beside this clone; the HTTP tests hold the same contract)"
fi
