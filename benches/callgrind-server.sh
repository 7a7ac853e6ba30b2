#!/usr/bin/env bash
# User-space instructions per answered request of a whole server process, under callgrind:
# the release `exchange` on a copy of the sample configs (`exchange+dsp`: with one mock DSP
# answering in 5 ms, as `loadtest cost` runs it), or the bare `loadtest baseline`, serving
# the default load-test scenario. Counted over every thread (hyper, tokio, the
# handler, timers), with the idle cost of the same window subtracted:
#   (Ir over N requests − Ir over an idle window as long) / N.
# Instruction counts are stable where timing on this host swings ±25%. Callgrind's CPU
# has no SHA extensions, so the notice signatures' SHA-256 runs in software here (in
# production it is a few hundred cycles); the script prints that share separately.
# Usage:
#   cargo build --release -p exchange -p loadtest
#   bash benches/callgrind-server.sh exchange [requests]    # or: exchange+dsp, baseline
# The load window's profile stays as /tmp/callgrind-server.<which>.out (callgrind_annotate).
set -euo pipefail
which=${1:?exchange or baseline}; requests=${2:-2000}
rate=100
seconds=$((requests / rate))
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
server=""; dsp=""
trap 'kill $server $dsp 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
case $which in
  exchange|exchange+dsp)
    cp -r "$root/configs" "$work/configs"
    if [ "$which" = exchange+dsp ]; then
      dsp_port=$((port + 1))
      "$bin/loadtest" mock-bidder --listen "127.0.0.1:$dsp_port" --latency fixed:5ms >"$work/dsp.log" 2>&1 &
      dsp=$!
      printf '\n[[bidders]]\nname = "mock"\nendpoint = "http://127.0.0.1:%s/openrtb2/bid"\ntimeout_ms = 100\ntcf_vendor_id = 755\n' \
        "$dsp_port" >>"$work/configs/exchange.toml"
    fi
    command=("$bin/exchange" --config "$work/configs/exchange.toml" --listen "127.0.0.1:$port") ;;
  baseline) command=("$bin/loadtest" baseline --listen "127.0.0.1:$port") ;;
  *) echo "first argument: exchange, exchange+dsp or baseline" >&2; exit 2 ;;
esac
valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" "${command[@]}" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 120); do
  curl -s -o /dev/null -X POST -d '{}' "127.0.0.1:$port/openrtb2/auction" && break
  sleep 1
done
load() {
  (cd "$root" && "$bin/loadtest" run --target "http://127.0.0.1:$port" --rate "$rate" \
    --duration "$1s" --warmup 0s --quiet 2>/dev/null) | grep -E '^answers'
}
load 5 >/dev/null  # warm-up: caches, memos, lazily built tables
callgrind_control -z "$server" >/dev/null 2>&1
sleep "$seconds"
callgrind_control -d idle "$server" >/dev/null 2>&1
callgrind_control -z "$server" >/dev/null 2>&1
answered=$(load "$seconds" | sed -E 's/answers: ([0-9]+).*/\1/')
callgrind_control -d load "$server" >/dev/null 2>&1
# grep -m1 closes the pipe early: the annotator's SIGPIPE is no failure.
total() { set +o pipefail; callgrind_annotate "$1" 2>/dev/null | grep -m1 'PROGRAM TOTALS' | awk '{print $1}' | tr -d ,; }
sha() {
  set +o pipefail
  callgrind_annotate --inclusive=yes "$1" 2>/dev/null \
    | grep -m1 -E '[0-9] .*sha2::sha256::compress256' | awk '{print $1}' | tr -d ,
}
idle_file=$(ls "$work"/cg.*.1); load_file=$(ls "$work"/cg.*.2); cp "$load_file" /tmp/callgrind-server.$which.out
idle=$(total "$idle_file"); loaded=$(total "$load_file"); sha_ir=$(sha "$load_file")
echo "$which: $(( (loaded - idle) / answered )) instructions per request" \
  "(of them SHA-256 in software: $(( ${sha_ir:-0} / answered ))), $answered requests at $rate/s," \
  "idle window $(( idle / answered )) per request subtracted"
