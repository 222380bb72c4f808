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

# PostgreSQL and Redis: throwaway servers on loopback, then the HTTP tests again on each.
need PostgreSQL start_postgres
trap stop_postgres EXIT
step "tests (PostgreSQL, $PG_VERSION)"
ZAQAR_TEST_MESSAGE_STORE="$PG_URI" cargo test --test api --test scale_out
# Stops and restarts this PostgreSQL while a server uses it.
ZAQAR_TEST_PG_URI="$PG_URI" ZAQAR_TEST_PG_STOP="$PG_STOP_CMD" ZAQAR_TEST_PG_START="$PG_START_CMD" \
    cargo test --test backend_failure postgres
stop_postgres

# Redis: a throwaway server on loopback (no persistence needed for the tests).
need Redis start_redis
trap 'stop_postgres; stop_redis' EXIT
step "tests (Redis $REDIS_VERSION)"
ZAQAR_TEST_MESSAGE_STORE="$REDIS_URI" cargo test --test api --test scale_out
ZAQAR_TEST_REDIS_URI="$REDIS_URI" cargo test --test profiler redis
# Stops and restarts a Redis of its own while a server uses it.
ZAQAR_TEST_REDIS_SERVER=redis-server cargo test --test backend_failure redis
stop_redis
trap - EXIT

# MongoDB: the wire-compatible NX-27017 (see README, "Backends").
need "MongoDB (NX-27017)" start_mongo
trap 'stop_postgres; stop_redis; stop_mongo' EXIT
step "tests (MongoDB wire protocol: NX-27017 0.8.1)"
ZAQAR_TEST_MESSAGE_STORE="$MONGO_URI" cargo test --test api --test scale_out
ZAQAR_TEST_MONGO_URI="$MONGO_URI" cargo test --test profiler mongo
stop_mongo
trap - EXIT

step "profiling end to end (osprofiler -> zaqar-server -> OTLP -> Phoenix)"
bash tests/e2e/profiling.sh target/debug/zaqar-server

transcript_tools=../shared/tools
if [ -f "$transcript_tools/gen-transcript.py" ]; then
    step "Zaqar v2 transcript"
    work=$(mktemp -d)
    trap 'kill "${server_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
    port=$(free_port)
    (cd "$work" && exec "$OLDPWD/target/debug/zaqar-server" --bind "127.0.0.1:$port") >"$work/server.log" 2>&1 &
    server_pid=$!
    wait_port "$port"
    python3 "$transcript_tools/gen-transcript.py" "http://127.0.0.1:$port" "$work/ours.md" --normalise
    # Skipped rows belong to later issues (pools, flavors, subscriptions' notifications, signed
    # URLs, topics) or record Zaqar bugs (include_claimed without marker, health detail).
    python3 "$transcript_tools/compare-transcripts.py" ../shared/reference/zaqar-v2-transcript.md "$work/ours.md" \
        --skip 'pool|flavor|subscri|signed url|topics|without marker|health with'
else
    step "Zaqar v2 transcript: skipped (no ../shared beside this clone; the HTTP tests hold the same contract)"
fi
