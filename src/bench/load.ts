// The benchmark's load: `concurrency` persistent connections to the
// coordinator, each a closed loop (the next request as soon as the reply
// arrives), with the request lines built up front and replies read with as
// little work as possible, so the load generator takes little of the CPU it
// shares with the cluster. Over TLS when the cluster speaks it (the same dial
// as every client of the API, checking the coordinator's certificate).
// `post-connect` is the one workload without persistent connections: each of
// its clients opens a connection per request, sends one line, reads the reply
// and closes, as the seed's clients and `nc` use the API.

import type { Socket } from 'node:net';
import { LineSplitter } from '../wire/framing.ts';
import { dial, type TlsConfig } from '../node/transport.ts';

export const WORKLOADS = ['post', 'post-connect', 'mixed', 'hot', 'read'] as const;
export type Workload = (typeof WORKLOADS)[number];

export const WORKLOAD_HELP: Record<Workload, string> = {
  post: 'single-tweet posts',
  'post-connect': 'single-tweet posts, each on a connection of its own: connect, send one line, read the reply, close',
  mixed: '70% reads of the newest 50, 20% posts, 10% updates of one\'s own tweets',
  hot: 'updates of 4 shared tweets: shows LOCKED rates',
  read: 'reads of the newest 50 tweets',
};

const HOT_IDS = ['hot-0', 'hot-1', 'hot-2', 'hot-3'];
const READ_LIMIT = 50;

interface Reply {
  status: string;
  code?: string;
  tweet?: { id: string };
}

/** Every reply line the coordinator writes starts with its status; an OK whose body is not needed is not parsed. */
const OK_PREFIX = '{"status":"OK"';
const OK: Reply = { status: 'OK' };

/** One connection: requests go out as lines, replies come back in order. */
class Conn {
  /** A reply of 1,000 tweets is far below this; a longer line means something is wrong. */
  private readonly lines = new LineSplitter(64 * 1024 * 1024);
  private readonly waiting: { resolve: (r: Reply | null) => void; body: boolean }[] = [];
  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => {
      const lines = this.lines.push(chunk);
      if (lines === null) {
        socket.destroy(new Error('a reply line over 64 MiB'));
        return;
      }
      for (const line of lines) {
        const w = this.waiting.shift();
        // Parsing 50 tweets only to learn "OK" would cost the load generator more than the server's answer.
        if (w !== undefined) w.resolve(!w.body && line.startsWith(OK_PREFIX) ? OK : (JSON.parse(line) as Reply));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      for (const w of this.waiting.splice(0)) w.resolve(null);
    });
  }

  /** Resolves once the socket may carry requests: connected, and over TLS once the handshake is done. */
  static open(address: string, tls: TlsConfig | null): Promise<Conn> {
    const i = address.lastIndexOf(':');
    return new Promise((resolve, reject) => {
      const s = dial(address.slice(0, i), Number(address.slice(i + 1)), tls, () => {
        s.off('error', reject);
        resolve(new Conn(s));
      });
      s.once('error', reject);
    });
  }

  /** Sends one request line; resolves with the reply (its status only, unless `body`), or null if the connection died. */
  send(line: string, body = false): Promise<Reply | null> {
    return new Promise((resolve) => {
      this.waiting.push({ resolve, body });
      this.socket.write(line);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Connecting failed: `code` is the system's (ECONNREFUSED, EADDRNOTAVAIL when the local ports run out...). */
interface ConnectFailure {
  connectFailed: string;
}

/**
 * One request on a connection of its own: connect, send the line, read the reply, close. The
 * client closes first, as `nc` and the seed's clients do, so the TIME_WAIT is on this side; on
 * loopback Linux reuses such ports for new connections (net.ipv4.tcp_tw_reuse, 2 by default).
 */
async function requestOnce(address: string, tls: TlsConfig | null, line: string): Promise<Reply | null | ConnectFailure> {
  let c: Conn;
  try {
    c = await Conn.open(address, tls);
  } catch (e) {
    return { connectFailed: (e as NodeJS.ErrnoException).code ?? 'ERROR' };
  }
  try {
    return await c.send(line);
  } finally {
    c.close();
  }
}

/** After a failed connect, a client waits this long before its next request, rather than spinning on the error. */
const CONNECT_RETRY_MS = 10;

export interface LevelResult {
  workload: Workload;
  concurrency: number;
  seconds: number;
  commits: number;
  reads: number;
  /** Refused or failed requests by code (LOCKED, UNAVAILABLE, ...); "LOST" when a connection died. */
  aborts: Record<string, number>;
  commitsPerSec: number;
  readsPerSec: number;
  /** Latency of every request measured, in ms. */
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

/** The value at fraction `p` of `sorted` (NaN when empty). */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
}

const words = 'two phase commit keeps every copy identical even when a node dies in the middle of it'.split(' ');
function text(client: number, n: number): string {
  return `bench ${client}.${n} ${words[(client + n) % words.length]} ${words[(client * 7 + n) % words.length]} of tweetdb`;
}

/** Creates the shared tweets the hot workload updates. */
export async function setUpHot(address: string, tls: TlsConfig | null = null): Promise<void> {
  const c = await Conn.open(address, tls);
  try {
    for (const id of HOT_IDS) {
      const r = await c.send(JSON.stringify({ action: 'post', tweet: { id, username: 'hot', content: `hot tweet ${id}` } }) + '\n');
      if (r === null || r.status !== 'OK') throw new Error(`could not create ${id}: ${JSON.stringify(r)}`);
    }
  } finally {
    c.close();
  }
}

/** Stores `count` tweets, 100 per transaction, over 16 connections, reporting progress. */
export async function preload(address: string, count: number, onProgress: (done: number) => void, tls: TlsConfig | null = null): Promise<void> {
  const PER_TX = 100;
  const conns = await Promise.all(Array.from({ length: 16 }, () => Conn.open(address, tls)));
  let next = 0;
  let done = 0;
  try {
    await Promise.all(
      conns.map(async (c, ci) => {
        while (next < count) {
          const start = next;
          const n = Math.min(PER_TX, count - start);
          next += n;
          const ops = Array.from({ length: n }, (_, k) => ({ action: 'post', tweet: { username: `pre${(start + k) % 1000}`, content: text(ci, start + k) } }));
          const r = await c.send(JSON.stringify({ action: 'transaction', ops }) + '\n');
          if (r === null || r.status !== 'OK') throw new Error(`preload failed: ${JSON.stringify(r)}`);
          done += n;
          onProgress(done);
        }
      }),
    );
  } finally {
    for (const c of conns) c.close();
  }
}

/**
 * Time the load is held after the measured window, for something measured under it that would
 * slow the window down (following the trace feed). `start` is called as it begins; the function
 * it resolves to is called as it ends, with the commits/s counted during it (null: nothing to
 * measure after all, and the load stops at once).
 */
export interface AfterWindow {
  seconds: number;
  start: () => Promise<((commitsPerSec: number) => void) | null>;
}

/**
 * Runs `workload` with `concurrency` clients for `warmupS` (not counted) then `seconds`, then
 * `after.seconds` more when `after` is given (not counted in the result either).
 * `onTick` is called about 4 times a second with the commits and reads counted so far.
 * `tls`: the cluster speaks TLS; every connection does too.
 * `onWindow`: called as the measured window starts and as it ends (to take CPU time over exactly it);
 * what it returns is awaited, the load going on meanwhile.
 */
export async function runLevel(
  address: string,
  workload: Workload,
  concurrency: number,
  seconds: number,
  warmupS: number,
  onTick: (commits: number, reads: number, elapsedS: number) => void,
  tls: TlsConfig | null = null,
  onWindow: (phase: 'start' | 'end') => void | Promise<void> = () => undefined,
  after: AfterWindow | null = null,
): Promise<LevelResult> {
  const perRequest = workload === 'post-connect';
  const conns = perRequest ? [] : await Promise.all(Array.from({ length: concurrency }, () => Conn.open(address, tls)));
  const latencies: number[] = [];
  const aborts: Record<string, number> = {};
  let commits = 0;
  let reads = 0;
  let measuring = false;
  /** Commits during the time after the window, counted apart. */
  let afterCommits: number | null = null;
  let stopped = false;
  const readLine = JSON.stringify({ action: 'get_tweets', limit: READ_LIMIT }) + '\n';

  const loop = async (client: number, c: Conn | null): Promise<void> => {
    const mine: string[] = [];
    let n = 0;
    // xorshift32 never leaves 0: every client, client 0 included, starts elsewhere.
    let rng = ((client + 1) * 2654435761) >>> 0;
    const random = (): number => {
      // xorshift32: cheap and reproducible per client; Math.random would do as well but costs more.
      rng ^= rng << 13;
      rng ^= rng >>> 17;
      rng ^= rng << 5;
      return (rng >>> 0) / 4294967296;
    };
    while (!stopped) {
      n++;
      let line: string;
      let kind: 'write' | 'read' = 'write';
      let isPost = false;
      const roll = random();
      if (workload === 'read' || (workload === 'mixed' && roll < 0.7)) {
        line = readLine;
        kind = 'read';
      } else if (workload === 'hot') {
        line = `{"action":"update","tweet":{"id":"${HOT_IDS[n % HOT_IDS.length] as string}","content":"hot ${client}.${n}"}}\n`;
      } else if (workload === 'mixed' && roll >= 0.9 && mine.length > 0) {
        line = JSON.stringify({ action: 'update', tweet: { id: mine[n % mine.length], content: text(client, n), username: `bench${client}` } }) + '\n';
      } else {
        line = JSON.stringify({ action: 'post', tweet: { username: `bench${client}`, content: text(client, n) } }) + '\n';
        isPost = true;
      }
      // Per request, the time to connect (and any TLS handshake) is part of the latency, as a client sees it.
      const t0 = performance.now();
      const r = c === null ? await requestOnce(address, tls, line) : await c.send(line, isPost && workload === 'mixed');
      const ms = performance.now() - t0;
      if (r !== null && 'connectFailed' in r) {
        if (measuring) aborts[`CONNECT_${r.connectFailed}`] = (aborts[`CONNECT_${r.connectFailed}`] ?? 0) + 1;
        await new Promise((res) => setTimeout(res, CONNECT_RETRY_MS));
        continue;
      }
      if (r === null) {
        aborts.LOST = (aborts.LOST ?? 0) + 1;
        // A persistent connection that died is gone; a per-request client just opens the next one.
        if (c === null) continue;
        return;
      }
      if (r.status === 'OK' && isPost && workload === 'mixed' && mine.length < 100 && r.tweet !== undefined) mine.push(r.tweet.id);
      if (afterCommits !== null && r.status === 'OK' && kind === 'write') afterCommits++;
      if (!measuring) continue;
      latencies.push(ms);
      if (r.status === 'OK') {
        if (kind === 'read') reads++;
        else commits++;
      } else {
        const code = r.code ?? r.status;
        aborts[code] = (aborts[code] ?? 0) + 1;
      }
    }
  };

  const runs = perRequest ? Array.from({ length: concurrency }, (_, i) => loop(i, null)) : conns.map((c, i) => loop(i, c));
  await new Promise((r) => setTimeout(r, warmupS * 1000));
  await onWindow('start');
  measuring = true;
  const t0 = performance.now();
  const ticker = setInterval(() => onTick(commits, reads, (performance.now() - t0) / 1000), 250);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  await onWindow('end');
  clearInterval(ticker);
  if (after !== null) {
    const end = await after.start();
    if (end !== null) {
      afterCommits = 0;
      const t1 = performance.now();
      await new Promise((r) => setTimeout(r, after.seconds * 1000));
      const counted: number = afterCommits;
      end(Math.round(counted / ((performance.now() - t1) / 1000)));
      afterCommits = null;
    }
  }
  stopped = true;
  await Promise.all(runs);
  for (const c of conns) c.close();
  const sorted = Float64Array.from(latencies).sort();
  return {
    workload,
    concurrency,
    seconds: Math.round(elapsed * 100) / 100,
    commits,
    reads,
    aborts,
    commitsPerSec: Math.round(commits / elapsed),
    readsPerSec: Math.round(reads / elapsed),
    p50Ms: round2(percentile(sorted, 0.5)),
    p99Ms: round2(percentile(sorted, 0.99)),
    p999Ms: round2(percentile(sorted, 0.999)),
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
