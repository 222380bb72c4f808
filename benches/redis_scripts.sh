#!/usr/bin/env bash
# Redis's own cost of the hot message scripts (claim of 10, delete by id), this tree's
# scripts against those of another commit, alternating, in one run on one throwaway Redis
# (no persistence, so the figures are the scripts' work, not the disk's). Redis runs each
# script alone on its one thread: what a script costs there bounds every server sharing it.
#
#   bash benches/redis_scripts.sh [REV] [ROUNDS]
#
# REV (default HEAD~1) names the scripts to compare with. A queue is filled through
# zaqar-server (16,000 messages); each round times 1,000 claims and 1,000 deletes per side
# with INFO commandstats (microseconds Redis spent per EVALSHA).
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-HEAD~1}
rounds=${2:-2}
source benches/lib.sh
trap 'stop_redis; bench_cleanup' EXIT
start_redis
cli=(redis-cli -u "$REDIS_URI")
lua=actors/src/storage/redis

# script_of SIDE NAME: the prelude and the script NAME of SIDE (tree or REV), as one text.
script_of() {
    if [ "$1" = tree ]; then
        cat "$lua/scripts.lua" "$lua/lua/$2.lua"
    else
        git show "$rev:$lua/scripts.lua"
        git show "$rev:$lua/lua/$2.lua"
    fi
}
# per_call FILE: sends the commands of FILE (one EVALSHA a line) and answers Redis's µs per call.
per_call() {
    "${cli[@]}" config resetstat >/dev/null
    "${cli[@]}" <"$1" >/dev/null
    "${cli[@]}" info commandstats | awk -F'[=,]' '/^cmdstat_evalsha:/ {print $6}'
}

cat >"$work/zaqar.toml" <<TOML
[storage]
message_store = "$REDIS_URI"
TOML
target/release/zaqar-server --config "$work/zaqar.toml" --bind 127.0.0.1:18888 2>"$work/server.log" &
pids+=($!)
wait_port 18888
echo "| round | side | claim of 10, µs | delete by id, µs |"
echo "|---|---|---:|---:|"
for round in $(seq "$rounds"); do
    for side in tree rev; do
        project="b$round$side"
        target/release/examples/loadgen --url http://127.0.0.1:18888 --duration 0 \
            --project "$project" --producers 0 --consumers 0 --observers 0 --prefill 16000 >/dev/null
        key="zq2:${#project}:$project:q:loadgen"
        claim=$("${cli[@]}" script load "$(script_of "$side" claim)")
        delete=$("${cli[@]}" script load "$(script_of "$side" delete)")
        now=$(($(date +%s%N) / 1000000))
        for i in $(seq 1000); do echo "evalsha $claim 1 $key $now c$round$side$i 60 60 10"; done >"$work/claims"
        # Deletes of messages no claim took (the last ones posted), without a claim id.
        "${cli[@]}" zrevrange "$key:ids" 0 999 |
            while read -r id; do echo "evalsha $delete 1 $key $now $id ''"; done >"$work/deletes"
        label=$side
        [ "$side" = rev ] && label=$rev
        echo "| $round | $label | $(per_call "$work/claims") | $(per_call "$work/deletes") |"
    done
done
