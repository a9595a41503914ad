// Issue #10's attack on stopping: Ctrl-C hung while any page had its event
// stream open (the web server waited for the streams before closing them).
// Real processes: `tweetdb web` on SIGINT and SIGTERM, and `tweetdb start`.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BIN, Cluster, eventually, freePort, spawnNode, waitExit } from '../helpers/cluster.ts';
import { signUpOverHttp, streamEnds } from '../helpers/web.ts';
import { SESSION_COOKIE } from '../../src/web/auth.ts';

/** How long a stop may take before the test calls it a hang (the claim, 5 s, is the benchmark's to time). */
const HANG_MS = 10_000;

const clusters: Cluster[] = [];
const procs: ChildProcess[] = [];
const pids: number[] = [];
const dirs: string[] = [];
after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => waitExit(p)));
  // Children of a `tweetdb start` that did not stop: by PID, and only if still a tweetdb process.
  for (const pid of pids) if (isTweetdb(pid)) process.kill(pid, 'SIGKILL');
  await Promise.all(clusters.map((c) => c.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function isTweetdb(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(BIN);
  } catch {
    return false;
  }
}

function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function openStreams(base: string, cookie: string, n: number): Promise<Response[]> {
  const out: Response[] = [];
  for (let i = 0; i < n; i++) {
    const r = await fetch(new URL('api/events', base), { headers: { cookie: `${SESSION_COOKIE}=${cookie}` } });
    assert.equal(r.status, 200);
    out.push(r);
  }
  return out;
}

/** Resolves with the exit code, or null if the process is still running after HANG_MS. */
function exitWithin(p: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), HANG_MS);
    const done = (): void => {
      clearTimeout(timer);
      resolve(p.exitCode ?? (p.signalCode !== null ? -1 : 0));
    };
    if (p.exitCode !== null || p.signalCode !== null) done();
    else p.once('exit', done);
  });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`attack: ${signal} hung while a page had its event stream open: tweetdb web ends the streams and exits 0`, async (t) => {
    const cluster = await Cluster.start({ workers: 1 });
    clusters.push(cluster);
    const web = await spawnNode('web', ['web', '--port', '0', '--host', '127.0.0.1', '--coordinator', cluster.address], cluster.keyEnv);
    procs.push(web.proc);
    const base = `http://${web.address}/`;
    const streams = await openStreams(base, await signUpOverHttp(base, 'watcher'), 3);
    const t0 = Date.now();
    web.proc.kill(signal);
    const code = await exitWithin(web.proc);
    t.diagnostic(`exited ${Date.now() - t0} ms after ${signal}`);
    assert.equal(code, 0, `tweetdb web exits on ${signal}:\n${web.logs.join('\n')}`);
    for (const s of streams) assert.ok(await streamEnds(s, 1_000), 'the page sees its stream end');
  });
}

test('attack: Ctrl-C of tweetdb start hung while a page had its event stream open: it stops everything, exit code 0', async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'tweetdb-webstop-'));
  dirs.push(data);
  const port = await freePort();
  const workerPort = await freePort();
  const proc = spawn(process.execPath, [BIN, 'start', '--workers', '1', '--data', data, '--port', String(port), '--worker-port', String(workerPort), '--web-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  const output: string[] = [];
  for (const s of [proc.stdout, proc.stderr]) createInterface({ input: s }).on('line', (l) => output.push(l));
  await eventually(
    async () => {
      if (proc.exitCode !== null) throw new Error(`tweetdb start exited (${proc.exitCode}):\n${output.join('\n')}`);
      return output.some((l) => /^\s+web:\s+http:\/\//.test(l));
    },
    45_000,
    'the web URL',
    () => output.join('\n'),
  );
  pids.push(...childrenOf(proc.pid ?? -1));
  t.diagnostic(`tweetdb start pid ${proc.pid}, children ${pids.join(', ')}`);
  const base = /(http:\/\/\S+)/.exec(output.find((l) => /^\s+web:\s+http:\/\//.test(l)) ?? '')?.[1] as string;
  const streams = await openStreams(base, await signUpOverHttp(base, 'tabs_open'), 2);
  const t0 = Date.now();
  proc.kill('SIGINT');
  const code = await exitWithin(proc);
  t.diagnostic(`stopped ${Date.now() - t0} ms after SIGINT`);
  assert.equal(code, 0, `tweetdb start stops on Ctrl-C with pages open:\n${output.join('\n')}`);
  assert.ok(output.some((l) => l.includes('tweetdb stopped')), output.join('\n'));
  for (const s of streams) assert.ok(await streamEnds(s, 1_000), 'the page sees its stream end');
});
