# shellcheck shell=bash
# Shared helpers of the benchmark scripts in benches/ (sourced, not run).
#
#   time_pair RUNS PREPARE NAME_A CMD_A NAME_B CMD_B
#
# times two shell commands RUNS times each (after one warm-up run each),
# running PREPARE before every run of either, untimed. Uses hyperfine when it
# is installed (installing Debian's `hyperfine` when root and it is missing),
# else a loop with `date +%s.%N`. Sets MEDIAN_A and MEDIAN_B (seconds).

ensure_hyperfine() {
    command -v hyperfine >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing hyperfine (apt-get)..." >&2
        { apt-get install -y -qq hyperfine >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq hyperfine >/dev/null 2>&1; }; } || true
    fi
    command -v hyperfine >/dev/null
}

# median of the numbers on stdin, one a line
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# shellcheck disable=SC2034 # MEDIAN_A, MEDIAN_B, TIMER are for the caller
time_pair() {
    local runs=$1 prepare=$2 name_a=$3 cmd_a=$4 name_b=$5 cmd_b=$6
    if ensure_hyperfine; then
        local csv
        csv=$(mktemp)
        hyperfine --style basic --warmup 1 --runs "$runs" --prepare "$prepare" \
            --export-csv "$csv" -n "$name_a" "$cmd_a" -n "$name_b" "$cmd_b"
        # columns: command,mean,stddev,median,user,system,min,max (the
        # command name may hold commas, so count from the end)
        MEDIAN_A=$(awk -F, 'NR == 2 { print $(NF - 4) }' "$csv")
        MEDIAN_B=$(awk -F, 'NR == 3 { print $(NF - 4) }' "$csv")
        rm -f "$csv"
        TIMER="hyperfine $(hyperfine --version | awk '{ print $2 }'), median of $runs runs after 1 warm-up"
    else
        MEDIAN_A=$(time_loop "$runs" "$prepare" "$cmd_a")
        MEDIAN_B=$(time_loop "$runs" "$prepare" "$cmd_b")
        TIMER="date +%s.%N loop, median of $runs runs after 1 warm-up (hyperfine not available)"
    fi
}

time_loop() {
    local runs=$1 prepare=$2 cmd=$3 i t0 t1
    { bash -c "$prepare" && bash -c "$cmd" >/dev/null; } || { echo "failed: $cmd" >&2; return 1; }
    for ((i = 0; i < runs; i++)); do
        bash -c "$prepare"
        t0=$(date +%s.%N)
        bash -c "$cmd" >/dev/null || { echo "failed: $cmd" >&2; return 1; }
        t1=$(date +%s.%N)
        echo "$t0 $t1" | awk '{ printf "%.6f\n", $2 - $1 }'
    done | median
}

# machine line for the reports
machine() {
    local cpu
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    echo "$(nproc) cores ($cpu), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr)"
}

# start_registry WORKDIR ACCESSLOG(true|false)
#
# starts Debian's docker-registry on 127.0.0.1 and a free port with storage
# in WORKDIR/regdata (deletes allowed), its log in WORKDIR/reg.log, the
# access log on or off; sets REG (host:port) and REG_PID (kill it on exit).
# shellcheck disable=SC2034 # REG, REG_PID are for the caller
start_registry() {
    local work=$1 access=$2 port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    local disabled=true
    [ "$access" = true ] && disabled=false
    cat >"$work/reg.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: $disabled
storage:
  filesystem:
    rootdirectory: $work/regdata
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
    docker-registry serve "$work/reg.yml" >"$work/reg.log" 2>&1 &
    REG_PID=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    REG=127.0.0.1:$port
}

# build_sealer REPO: uses $SEALER if set, else builds the release binary;
# sets SEALER_BIN.
# shellcheck disable=SC2034 # SEALER_BIN is for the caller
build_sealer() {
    if [ -n "${SEALER:-}" ]; then
        SEALER_BIN=$SEALER # a prebuilt binary
    else
        echo "== building sealer (cargo build --release)"
        (cd "$1" && cargo build --release --quiet --bin sealer)
        SEALER_BIN="${CARGO_TARGET_DIR:-$1/target}/release/sealer"
    fi
}
