#!/usr/bin/env bash
# The benchmark matrix committed under bench/results (run from the repository root).
set -euo pipefail
B="node bin/tweetdb.js bench --seconds 10 --warmup 2 --out bench/results"
$B --workload post --concurrency 1,16,64,256 --compare postgres --name post-vs-postgres
$B --workload mixed --concurrency 1,16,64,256 --preload 10000 --name mixed
$B --workload hot --concurrency 1,16,64,256 --name hot
$B --workload read --concurrency 1,16,64,256 --preload 100000 --name read-100k
for w in 1 2 3 5; do $B --workload post --concurrency 64 --workers $w --name scale-workers-$w; done
for n in 10000 1000000; do $B --workload read --concurrency 64 --preload $n --name scale-read-$n; done
