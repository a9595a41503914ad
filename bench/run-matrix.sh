#!/usr/bin/env bash
# The benchmark matrix committed under bench/results (run from the repository root).
# Between runs the disk is left to settle (the previous cluster's data written back and
# removed), so that one run's leftovers do not slow the next: on the 2-core machine of the
# committed run, back-to-back runs measured up to a third slower without it.
set -euo pipefail
B="node bin/tweetdb.js bench --seconds 10 --warmup 2 --out bench/results"
settle() { sync; sleep 10; }
$B --workload post --concurrency 1,16,64,256 --compare postgres --name post-vs-postgres; settle
$B --workload post --concurrency 1,64 --compare security --name post-security; settle
# Persistent clients against one connection per request (how `nc` and the seed's clients use the API), level by level.
$B --workload post --concurrency 1,16,64,256 --compare connect --name post-connections; settle
$B --workload mixed --concurrency 1,16,64,256 --preload 10000 --name mixed; settle
$B --workload hot --concurrency 1,16,64,256 --name hot; settle
$B --workload read --concurrency 1,16,64,256 --preload 100000 --name read-100k; settle
for w in 1 2 3 5; do $B --workload post --concurrency 64 --workers $w --name scale-workers-$w; settle; done
for n in 10000 1000000; do $B --workload read --concurrency 64 --preload $n --name scale-read-$n; settle; done
