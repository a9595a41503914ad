// Measures single-tweet posts on a fresh durable local cluster: commits/s,
// p50/p99 latency and fsyncs per commit, for each number of persistent clients.
//   npx tsx bench/posts.ts [--clients 16,64] [--seconds 10] [--workers 2]
// (The full `tweetdb bench` of DESIGN section 7 is a later issue; this is the
// measurement used until then.)

import { parseArgs } from 'node:util';
import { Cluster } from '../test/helpers/cluster.ts';
import { TweetdbClient } from '../src/node/client.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '16,64' },
    seconds: { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' },
  },
});
const levels = values.clients.split(',').map(Number);
const seconds = Number(values.seconds);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

async function fsyncs(cluster: Cluster): Promise<{ log: number; workers: number[] }> {
  const s = await cluster.status();
  const c = await cluster.request({ action: 'check' });
  return {
    log: (s.counters as { log_fsyncs: number }).log_fsyncs,
    workers: (c.workers as { fsyncs: number }[]).map((w) => w.fsyncs),
  };
}

const cluster = await Cluster.start({ workers: Number(values.workers) });
console.log(`cluster: coordinator ${cluster.address}, ${values.workers} workers, data in ${cluster.dir}`);
console.log('| clients | commits/s | p50 ms | p99 ms | aborts | log fsyncs/commit | worker fsyncs/commit |');
console.log('|---|---|---|---|---|---|---|');
try {
  for (const n of levels) {
    const clients = await Promise.all(Array.from({ length: n }, () => TweetdbClient.connect(cluster.address)));
    const before = await fsyncs(cluster);
    const lat: number[] = [];
    let ok = 0;
    let aborted = 0;
    const until = Date.now() + seconds * 1000;
    const t0 = Date.now();
    await Promise.all(
      clients.map(async (c, i) => {
        let k = 0;
        while (Date.now() < until) {
          const s = performance.now();
          const r = await c.request({ action: 'post', tweet: { username: `bench${i}`, content: `post ${k++} from client ${i}` } });
          lat.push(performance.now() - s);
          if (r.status === 'OK') ok++;
          else aborted++;
        }
      }),
    );
    const elapsed = (Date.now() - t0) / 1000;
    const after = await fsyncs(cluster);
    for (const c of clients) c.close();
    lat.sort((a, b) => a - b);
    const wf = after.workers.map((w, i) => ((w - (before.workers[i] ?? 0)) / ok).toFixed(3)).join(' / ');
    console.log(`| ${n} | ${(ok / elapsed).toFixed(0)} | ${pct(lat, 50).toFixed(2)} | ${pct(lat, 99).toFixed(2)} | ${aborted} | ${((after.log - before.log) / ok).toFixed(3)} | ${wf} |`);
  }
} finally {
  await cluster.stop();
}
