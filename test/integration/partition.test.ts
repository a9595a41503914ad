// A silent partition between the coordinator and one worker, with real processes:
// worker 2 advertises the address of a TCP proxy (test/helpers/proxy.ts), so the
// coordinator's link to it, and worker 1's questions to it, go through the proxy.
// Cutting the proxy black-holes that traffic without closing anything. Writes must
// still be answered (UNAVAILABLE, TIMEOUT or IN_DOUBT) within twice the lock timeout plus a margin,
// and after healing the copies converge and nothing stays in doubt.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Cluster, eventually, freePort, sleep, spawnNode, type NodeProc } from '../helpers/cluster.ts';
import { Load } from '../../src/check/load.ts';
import { TcpProxy } from '../helpers/proxy.ts';
import { TweetdbClient, type ApiReply } from '../../src/client/client.ts';

const LOCK_TIMEOUT_S = 2;
/** Every write is answered within the lock timeout plus this. */
const MARGIN_MS = 3_000;
const DEADLINE_MS = LOCK_TIMEOUT_S * 1000 + MARGIN_MS;

interface StatusWorker {
  id: string;
  address: string;
  state: string;
}

const clusters: Cluster[] = [];
/** Every load started: stopped before the clusters, so a test that fails midway leaves no client running (the process would never exit). */
const loads: Load[] = [];
const proxies: TcpProxy[] = [];
after(async () => {
  await Promise.all(loads.map((l) => l.stop()));
  // Cluster.stop() ends every process of the cluster (worker 2 included: it is pushed
  // onto cluster.workers) by its PID, then removes the data directory.
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all(clusters.map((c) => c.stop()));
});


interface Setup {
  cluster: Cluster;
  proxy: TcpProxy;
  /** Worker 2, reached through the proxy. */
  w2: NodeProc;
  w2id: string;
}

/**
 * A coordinator, worker 1 as usual, and worker 2 behind the proxy. The worker must
 * advertise the proxy's address when it starts, and the proxy must know the worker's
 * port: so pick the worker's port first, start the proxy (it only dials the target
 * when a connection comes in), then the worker.
 */
async function startCluster(): Promise<Setup> {
  const cluster = await Cluster.start({ workers: 1, lockTimeout: LOCK_TIMEOUT_S });
  clusters.push(cluster);
  let w2: NodeProc | null = null;
  let proxy: TcpProxy | null = null;
  for (let attempt = 1; w2 === null; attempt++) {
    const port = await freePort('127.0.0.1');
    proxy = await TcpProxy.start(`127.0.0.1:${port}`);
    proxies.push(proxy);
    const args = ['worker', String(port), '--host', '127.0.0.1', '--advertise', proxy.address, '--coordinator', cluster.address, '--data', join(cluster.dir, 'worker-2')];
    try {
      w2 = await spawnNode('worker-2', args, cluster.keyEnv);
    } catch (e) {
      // Someone took the port between our probe and the worker's bind: try another.
      if (attempt >= 3) throw e;
    }
  }
  assert.ok(proxy !== null);
  cluster.workers.push(w2);
  await cluster.waitAllUp(2);
  const ws = (await cluster.status()).workers as StatusWorker[];
  const me = ws.find((w) => w.address === proxy.address);
  assert.ok(me !== undefined, `worker 2 is listed under the proxy's address ${proxy.address}: ${JSON.stringify(ws)}`);
  assert.ok(proxy.accepted > 0, 'the coordinator reaches worker 2 through the proxy');
  return { cluster, proxy, w2, w2id: me.id };
}

interface Probe {
  sentAt: number;
  ms: number;
  /** The reply, or null when the connection died first (outcome unknown). */
  reply: ApiReply | null;
}

/** Single posts, one after another on one connection, each reply and its latency recorded. */
class Prober {
  readonly probes: Probe[] = [];
  private stopped = false;
  private readonly run: Promise<void>;

  constructor(address: string, tag: string) {
    this.run = this.loop(address, tag);
  }

  private async loop(address: string, tag: string): Promise<void> {
    let c: TweetdbClient | null = null;
    for (let n = 0; !this.stopped; n++) {
      if (c === null) {
        try {
          c = await TweetdbClient.connect(address, 1_000);
        } catch {
          await sleep(100);
          continue;
        }
      }
      const sentAt = Date.now();
      let reply: ApiReply | null = null;
      try {
        // A generous timeout: a hung write shows as a long latency, not as a lost reply.
        reply = await c.request({ action: 'post', tweet: { id: `${tag}-${n}`, username: 'prober', content: `probe ${n}` } }, 60_000);
      } catch {
        c.close();
        c = null;
      }
      this.probes.push({ sentAt, ms: Date.now() - sentAt, reply });
      // Refusals come back at once: pace them so that the log stays readable.
      if (reply !== null && reply.status !== 'OK') await sleep(50);
    }
    c?.close();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.run;
  }
}

/** Polls status, keeping the states it saw for one worker. */
class StatusWatch {
  readonly states = new Set<string>();
  private stopped = false;
  private readonly run: Promise<void>;

  constructor(cluster: Cluster, workerId: string) {
    this.run = (async () => {
      while (!this.stopped) {
        try {
          const ws = (await cluster.status()).workers as StatusWorker[];
          const w = ws.find((x) => x.id === workerId);
          if (w !== undefined) this.states.add(w.state);
        } catch {
          // the coordinator never goes away in these tests; a failed poll is retried
        }
        await sleep(100);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.run;
  }
}

function codeOf(p: Probe): string {
  return p.reply === null ? 'UNKNOWN' : (p.reply.code ?? p.reply.status);
}

function tally(probes: Probe[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of probes) out[codeOf(p)] = (out[codeOf(p)] ?? 0) + 1;
  return out;
}

/** The warnings and errors of a process, for assertion messages. */
function notable(node: NodeProc, max = 40): string {
  const lines = node.logs.filter((l) => /"level":(40|50|60)/.test(l));
  return `${node.name} (${lines.length} warn+ lines, last ${Math.min(max, lines.length)}):\n${lines.slice(-max).join('\n')}`;
}

function evidence(s: Setup): string {
  return [notable(s.cluster.coordinator), ...s.cluster.workers.map((w) => notable(w))].join('\n');
}

test('a silent partition between the coordinator and worker 2 under load: writes are refused in time, nothing hangs; after healing the copies converge', { timeout: 180_000 }, async (t) => {
  const s = await startCluster();
  const { cluster, proxy, w2id } = s;
  const w2address = proxy.address;
  assert.equal((await cluster.request({ action: 'post', tweet: { id: 'hot', username: 'shared', content: 'start' } })).status, 'OK');

  const load = new Load({ address: () => cluster.address, clients: 8, hotIds: ['hot'], requestTimeoutMs: 60_000 });

  loads.push(load);
  load.start();
  const prober = new Prober(cluster.address, 'probe');
  // Writes flow before the cut (waited for, not timed: a busy CI machine is slower).
  await eventually(async () => load.acked >= 50 && prober.probes.some((p) => codeOf(p) === 'OK'), 30_000, 'writes to be acknowledged before the cut');
  const ackedBeforeCut = load.acked;

  const cutAt = Date.now();
  proxy.cut();
  const watch = new StatusWatch(cluster, w2id);
  await sleep(3 * LOCK_TIMEOUT_S * 1000);
  await watch.stop();
  const healAt = Date.now();
  proxy.heal();
  const loadCodesAtHeal = Object.fromEntries(load.codes);

  // Everything is up again, and writes flow: then stop the load and check it.
  const convergeFrom = Date.now();
  await cluster.waitAllUp(2, 30_000).catch((e: Error) => assert.fail(`${e.message}\n${evidence(s)}`));
  const upAfterMs = Date.now() - convergeFrom;
  const ackedAtHeal = load.acked;
  await eventually(async () => load.acked >= ackedAtHeal + 20, 30_000, 'writes to be acknowledged after healing', () => evidence(s));
  await prober.stop();
  await load.stop();

  // Only now is every probe in the list: one still waiting for its reply at heal time is added when it gets one.
  const cutProbes = prober.probes.filter((p) => p.sentAt >= cutAt && p.sentAt < healAt);
  const maxProbeMs = Math.max(0, ...prober.probes.map((p) => p.ms));
  const maxCutProbeMs = Math.max(0, ...cutProbes.map((p) => p.ms));
  const cutTally = tally(cutProbes);
  t.diagnostic(`cut for ${healAt - cutAt} ms; load acked ${ackedBeforeCut} writes before the cut, ${load.acked} in all; load codes at heal ${JSON.stringify(loadCodesAtHeal)}, at the end ${JSON.stringify(Object.fromEntries(load.codes))}`);
  t.diagnostic(`probes sent during the cut: ${cutProbes.length} ${JSON.stringify(cutTally)}, slowest ${maxCutProbeMs} ms; all probes: ${prober.probes.length} ${JSON.stringify(tally(prober.probes))}, slowest ${maxProbeMs} ms; load slowest ${load.maxLatencyMs} ms`);
  t.diagnostic(`worker 2 states seen during the cut: ${[...watch.states].join(', ')}; all up ${upAfterMs} ms after healing; proxy accepted ${proxy.accepted} connections`);

  const check = await cluster.waitConverged(30_000).catch((e: Error) => assert.fail(`${e.message}\n${evidence(s)}`));
  t.diagnostic(`converged ${Date.now() - convergeFrom} ms after healing (the load ran until ${load.acked - ackedAtHeal} more writes were acknowledged)`);

  // Nothing hung: every write, during the cut or not, was answered within the lock timeout plus the margin.
  assert.ok(maxProbeMs <= DEADLINE_MS, `every probe was answered within ${DEADLINE_MS} ms (slowest ${maxProbeMs} ms)\n${evidence(s)}`);
  assert.ok(load.maxLatencyMs <= DEADLINE_MS, `every load write was answered within ${DEADLINE_MS} ms (slowest ${load.maxLatencyMs} ms)\n${evidence(s)}`);
  assert.ok(cutProbes.length > 0, 'probes were sent during the cut');
  assert.deepEqual(cutProbes.filter((p) => p.reply === null), [], 'every probe sent during the cut got a reply');
  // OK is possible for a probe that reached both workers before the cut took effect; IN_DOUBT for one
  // that worker 1 voted YES on while worker 2, behind the cut, could not be asked (implicit commit).
  const unexpected = cutProbes.filter((p) => !['OK', 'UNAVAILABLE', 'TIMEOUT', 'IN_DOUBT'].includes(codeOf(p)));
  assert.deepEqual(unexpected, [], 'probes during the cut were answered OK, UNAVAILABLE, TIMEOUT or IN_DOUBT');
  assert.equal(load.unknown, 0, 'no load write lost its connection');
  assert.deepEqual(load.errors, [], 'no load write got an ERROR');

  // Worker 2 was seen as not up, and writes were refused naming it.
  assert.ok([...watch.states].some((st) => st !== 'up'), `status showed worker 2 as not up during the cut (saw ${[...watch.states].join(', ')})`);
  const refusals = cutProbes.filter((p) => codeOf(p) === 'UNAVAILABLE').map((p) => (p.reply as ApiReply).error ?? '');
  assert.ok(refusals.length > 0, `writes were refused with UNAVAILABLE during the cut: ${JSON.stringify(cutTally)}`);
  // The reasons, with transaction ids left out, for the log: "is joining", "did not answer", ...
  const reasons = [...new Set(refusals.map((e) => e.replace(/transaction \S+/g, 'transaction *')))];
  t.diagnostic(`UNAVAILABLE reasons during the cut: ${JSON.stringify(reasons)}`);
  assert.ok(refusals.some((e) => e.includes(w2id) || e.includes(w2address)), `an UNAVAILABLE names worker 2 (${w2id}, ${w2address}): ${JSON.stringify(reasons)}`);
  assert.ok(load.count('UNAVAILABLE') > 0, 'load writes were refused with UNAVAILABLE too');

  // Healed: identical copies, nothing in doubt, every acknowledged write readable, writes work.
  assert.equal(check.length, 2);
  assert.ok(ackedBeforeCut > 0 && load.acked > ackedAtHeal, `writes were acknowledged before the cut (${ackedBeforeCut}) and after healing (${ackedAtHeal} at heal, ${load.acked} in all)`);
  assert.deepEqual(await load.verify(cluster.address), []);
  assert.deepEqual((await cluster.status()).in_doubt, []);
  const fresh = await cluster.request({ action: 'post', tweet: { id: 'after-heal', username: 'ada', content: 'the link is back' } });
  assert.equal(fresh.status, 'OK', JSON.stringify(fresh));
  await cluster.waitConverged(30_000);
});

test('cut for twice the lock timeout, then healed: nothing stays in doubt and writes work', { timeout: 120_000 }, async (t) => {
  const s = await startCluster();
  const { cluster, proxy } = s;
  // A few writes in flight when the link goes silent, so that worker 2 may hold prepared ones.
  const prober = new Prober(cluster.address, 'p');
  await sleep(500);
  const cutAt = Date.now();
  proxy.cut();
  await sleep(2 * LOCK_TIMEOUT_S * 1000);
  proxy.heal();
  const healAt = Date.now();
  await prober.stop();

  let lastStatus: ApiReply | null = null;
  await eventually(async () => {
    lastStatus = await cluster.status();
    return (lastStatus.in_doubt as unknown[]).length === 0;
  }, 30_000, 'status.in_doubt to become empty', () => `${JSON.stringify(lastStatus)}\n${evidence(s)}`);
  const inDoubtClearedMs = Date.now() - healAt;
  await eventually(async () => (await cluster.request({ action: 'post', tweet: { id: 'after-heal', username: 'ada', content: 'works again' } })).status === 'OK', 30_000, 'a write to succeed', () => evidence(s));
  const writableMs = Date.now() - healAt;
  const check = await cluster.waitConverged(30_000).catch((e: Error) => assert.fail(`${e.message}\n${evidence(s)}`));
  const maxProbeMs = Math.max(0, ...prober.probes.map((p) => p.ms));
  t.diagnostic(`cut ${healAt - cutAt} ms; probes ${prober.probes.length} ${JSON.stringify(tally(prober.probes))}, slowest ${maxProbeMs} ms; in_doubt empty ${inDoubtClearedMs} ms and a write OK ${writableMs} ms after healing`);
  assert.ok(maxProbeMs <= DEADLINE_MS, `every probe was answered within ${DEADLINE_MS} ms (slowest ${maxProbeMs} ms)`);
  assert.deepEqual(prober.probes.filter((p) => p.reply === null), [], 'every probe got a reply');
  assert.ok(check.every((w) => w.digest === check[0]?.digest && w.prepared === 0 && w.locks === 0), JSON.stringify(check));
});
