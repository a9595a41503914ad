// `tweetdb start`: a whole local cluster as child processes (a coordinator, N
// workers and the web app), their logs as readable lines, Ctrl-C stops everything.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { TweetdbClient } from '../node/client.ts';

const BIN = fileURLToPath(new URL('../../bin/tweetdb.js', import.meta.url));
const READY_WAIT_MS = 60_000;

export interface StartOptions {
  workers: number;
  data: string;
  port: number;
  workerPort: number;
  host: string;
  lockTimeout: number;
  webPort: number;
  /** Start the web app too. */
  web: boolean;
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** One pino JSON line as a person reads it: time, node, level, message, fields. */
export function prettyLogLine(name: string, line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${name.padEnd(14)} ${line}`;
  }
  const { time, level, msg, pid: _pid, hostname: _h, name: _n, ...rest } = rec;
  const t = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const lvl = LEVELS[level as number] ?? String(level);
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${name.padEnd(14)} ${lvl.padEnd(5)} ${String(msg ?? '')}${fields ? `  ${fields}` : ''}`;
}

export async function runStart(o: StartOptions): Promise<void> {
  const dataDir = resolve(o.data);
  const coordinator = `${o.host}:${o.port}`;
  const children: { name: string; proc: ChildProcess }[] = [];
  /** The web app's URL, from its log once it listens (its port may be 0: any free one). */
  let webUrl: string | null = null;
  const launch = (name: string, args: string[]): void => {
    const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [proc.stdout, proc.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on('line', (l) => {
        if (name === 'web' && webUrl === null) webUrl = urlFromLog(l);
        console.log(prettyLogLine(name, l));
      });
    }
    proc.on('exit', (code, signal) => {
      if (!stopping) {
        console.log(`${name} exited (${signal ?? code}); stopping the cluster`);
        void stopAll(1);
      }
    });
    children.push({ name, proc });
  };

  let stopping = false;
  const stopAll = async (exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log('stopping tweetdb...');
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((done) => {
            if (c.proc.exitCode !== null || c.proc.signalCode !== null) return done();
            c.proc.once('exit', () => done());
            c.proc.kill('SIGTERM');
          }),
      ),
    );
    console.log('tweetdb stopped');
    process.exit(exitCode);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  launch('coordinator', ['coordinator', '--port', String(o.port), '--host', o.host, '--data', join(dataDir, 'coordinator'), '--lock-timeout', String(o.lockTimeout)]);
  for (let i = 0; i < o.workers; i++) {
    const p = o.workerPort + i;
    launch(`worker ${p}`, ['worker', String(p), '--host', o.host, '--coordinator', coordinator, '--data', join(dataDir, `worker-${p}`)]);
  }

  if (o.web) launch('web', ['web', '--port', String(o.webPort), '--host', o.host, '--coordinator', coordinator]);

  const ready = (await waitUntilUp(coordinator, o.workers)) && (!o.web || (await waitFor(() => webUrl !== null)));
  if (stopping) return;
  if (!ready) {
    console.log(`tweetdb: the cluster is not fully up after ${READY_WAIT_MS / 1000} s; see the logs above`);
    return;
  }
  console.log('');
  console.log(`tweetdb is up: coordinator at ${coordinator} with ${o.workers} workers, data in ${dataDir}`);
  console.log(`  try:   nc ${o.host} ${o.port}     then type {"action":"get_tweets"}`);
  console.log(`  or:    npx tweetdb client --coordinator ${coordinator}`);
  if (webUrl !== null) console.log(`  web:   ${webUrl as string}   (the app: create an account, post, watch updates live)`);
  console.log('  Ctrl-C stops everything.');
  console.log('');
}

function urlFromLog(line: string): string | null {
  try {
    const rec = JSON.parse(line) as { url?: unknown };
    return typeof rec.url === 'string' ? rec.url : null;
  } catch {
    return null;
  }
}

async function waitFor(cond: () => boolean): Promise<boolean> {
  const until = Date.now() + READY_WAIT_MS;
  while (!cond()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function waitUntilUp(coordinator: string, workers: number): Promise<boolean> {
  const until = Date.now() + READY_WAIT_MS;
  while (Date.now() < until) {
    try {
      const c = await TweetdbClient.connect(coordinator, 1_000);
      try {
        const s = await c.request({ action: 'status' }, 2_000);
        const ws = (s.workers as { state: string }[] | undefined) ?? [];
        if (ws.length >= workers && ws.every((w) => w.state === 'up')) return true;
      } finally {
        c.close();
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
