#!/usr/bin/env bash
# Marginal instructions per request of one hot_path bench under callgrind: two runs (1 s
# and 4 s of --profile-time) so that one-off costs (setup, regexes compiled on first use,
# warm-up) cancel: (Ir_4 − Ir_1) / (requests_4 − requests_1), requests = calls of
# decode_request. Usage:
#   cargo bench -p benches --bench hot_path --no-run
#   bash benches/callgrind-marginal.sh target/release/deps/hot_path-<hash> 'handler_10k/' name
set -euo pipefail
bench=$1; group=$2; name=$3
for t in 1 4; do
  valgrind --tool=callgrind --callgrind-out-file="/tmp/cgm.$name.$t" \
    --toggle-collect='exchange::endpoint::auction*' \
    "$bench" --bench --profile-time "$t" "^$group" >/dev/null 2>&1
done
ir() { set +o pipefail; callgrind_annotate "/tmp/cgm.$name.$1" 2>/dev/null | grep -m1 "PROGRAM TOTALS" | awk '{print $1}' | tr -d ,; }
calls() {
  set +o pipefail  # grep -m1 closes the pipe early: the annotator's SIGPIPE is no failure
  callgrind_annotate --tree=caller "/tmp/cgm.$name.$1" 2>/dev/null \
    | grep -m1 -E "< .*:bidder_sdk::openrtb::codec::decode_request \(" \
    | sed -E 's/.*\(([0-9,]+)x\).*/\1/' | tr -d ,
}
i1=$(ir 1); i4=$(ir 4); c1=$(calls 1); c4=$(calls 4)
echo "$name: $(( (i4 - i1) / (c4 - c1) )) instructions per request ($c1 and $c4 requests)"
