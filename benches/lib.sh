# Shared by the load benchmarks (load.sh, backends.sh, overhead.sh, pooling.sh), sourced from
# the repository's root: builds the release server, load tool and bare ceiling; gives a work
# directory and a list of background pids, both removed on exit.
source tests/lib.sh
cargo build --release --quiet --bin zaqar-server --example loadgen --example bare_server
work=$(mktemp -d)
pids=()
bench_cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap bench_cleanup EXIT

# start_bare: the bare actix-web server on 127.0.0.1:18890, the HTTP ceiling (and an OTLP
# sink that drops what it gets).
start_bare() {
    target/release/examples/bare_server 127.0.0.1:18890 2>/dev/null &
    pids+=($!)
    wait_port 18890
}

# cpu_ticks PID: the process's CPU time so far (user + system, in clock ticks), for CPU per
# request around a run.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# total_row LABEL FILE: the loadgen "total" line of FILE as "| LABEL | req/s | p50 | p99 |".
total_row() {
    awk -v label="$1" '$1=="total" {printf "| %s | %s | %s | %s |\n", label, $3, $4, $5}' "$2"
}
