// `tweetdb start` as a user runs it, Ctrl-C included; and the command line's help and flag checks.

import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BIN, eventually, freePort, waitExit } from '../helpers/cluster.ts';
import { sendAndClose } from '../helpers/raw.ts';

const HOST = '127.0.0.1';
const spawned: ChildProcess[] = [];
const pidsToReap: number[] = [];
const dirs: string[] = [];
after(async () => {
  // A test that failed half way may leave a start process and its children running: stop them by their PIDs.
  for (const p of spawned) {
    if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) continue;
    pidsToReap.push(...childrenOf(p.pid));
    p.kill('SIGKILL');
  }
  await Promise.all(spawned.map((p) => waitExit(p)));
  // Only a process that is still one of ours (a tweetdb node), in case its PID was reused.
  for (const pid of pidsToReap) if (alive(pid) && isTweetdb(pid)) process.kill(pid, 'SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function isTweetdb(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(BIN);
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Binds host:port and closes at once: resolves with whether the port was free. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}


/** A port P such that P and P+1 are both free. */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p < 65535 && (await isFree(p + 1))) return p;
  }
  throw new Error('no two consecutive free ports found');
}

/** Processes whose parent is `ppid` (Linux /proc). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Runs `tweetdb start`, uses it, then interrupts it: SIGINT to the start process alone, or (as Ctrl-C in a
 * terminal does) to its whole process group, children included.
 */
async function startUseAndInterrupt(t: TestContext, o: StartRun): Promise<StartRun> {
  const wholeGroup = o.wholeGroup === true;
  const data = o.data ?? mkdtempSync(join(tmpdir(), 'tweetdb-start-'));
  if (o.data === undefined) dirs.push(data);
  const port = o.port ?? (await freePort());
  const workerPort = o.workerPort ?? (await freePortPair());
  const id = o.id ?? 's1';
  const proc = spawn(process.execPath, [BIN, 'start', '--workers', '2', '--data', data, '--port', String(port), '--worker-port', String(workerPort), '--web-port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: wholeGroup,
  });
  spawned.push(proc);
  const output: string[] = [];
  for (const s of [proc.stdout, proc.stderr]) createInterface({ input: s }).on('line', (l) => output.push(l));
  let exitCode: number | null = null;
  let exitSignal: NodeJS.Signals | null = null;
  const exited = new Promise<void>((r) =>
    proc.once('exit', (code, sig) => {
      exitCode = code;
      exitSignal = sig;
      r();
    }),
  );

  const upLine = `tweetdb is up: coordinator at ${HOST}:${port}`;
  await eventually(async () => {
    if (proc.exitCode !== null) throw new Error(`tweetdb start exited (${proc.exitCode}):\n${output.join('\n')}`);
    return output.some((l) => l.includes(upLine));
  }, 45_000, `the line "${upLine}"`, () => output.join('\n'));
  assert.ok(output.some((l) => l.includes(`${upLine} with 2 workers`)), output.join('\n'));
  // The web app is up too, and its URL printed: it answers (a signed-out visitor gets 401 from the API).
  const webLine = output.find((l) => /^\s+web:\s+http:\/\//.test(l));
  assert.ok(webLine !== undefined, output.join('\n'));
  const webUrl = /(http:\/\/\S+)/.exec(webLine)?.[1] as string;
  const me = await fetch(new URL('api/me', webUrl));
  assert.equal(me.status, 401);
  assert.equal(me.headers.get('content-type'), 'application/problem+json; charset=utf-8');

  const coordinator = `${HOST}:${port}`;
  const replies = await sendAndClose(
    coordinator,
    `{"action":"post","tweet":{"id":"${id}","username":"ada","content":"hello from start"}}\n{"action":"get_tweets"}\n`,
  );
  assert.equal(replies.length, 2, JSON.stringify(replies));
  assert.equal(replies[0]?.status, 'OK', JSON.stringify(replies[0]));
  assert.equal((replies[0]?.tweet as { id?: string } | undefined)?.id, id);
  assert.equal(replies[1]?.status, 'OK', JSON.stringify(replies[1]));
  assert.deepEqual((replies[1]?.tweets as { id: string; content: string }[]).map((x) => [x.id, x.content]), [id, ...(o.earlier ?? [])].map((x) => [x, 'hello from start']));

  // The workers listen on the ports it was told; status shows them.
  const status = (await sendAndClose(coordinator, '{"action":"status"}\n'))[0];
  assert.deepEqual(
    (status?.workers as { address: string; state: string }[]).map((w) => [w.address, w.state]).sort(),
    [[`${HOST}:${workerPort}`, 'up'], [`${HOST}:${workerPort + 1}`, 'up']],
  );

  const children = childrenOf(proc.pid ?? -1);
  pidsToReap.push(...children);
  t.diagnostic(`tweetdb start pid ${proc.pid}, children ${children.join(', ')}`);
  if (readdirSyncSafe('/proc')) assert.equal(children.length, 4, `a coordinator, 2 workers and the web app run as children of tweetdb start: ${children.join(', ')}`);

  if (wholeGroup) process.kill(-(proc.pid ?? 0), 'SIGINT');
  else proc.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 10_000)))]);
  clearTimeout(timer);
  assert.ok(inTime, `tweetdb start exits within 10 s of SIGINT:\n${output.join('\n')}`);
  assert.equal(exitSignal, null);
  assert.equal(exitCode, 0, output.join('\n'));
  assert.ok(output.some((l) => l.includes('tweetdb stopped')), output.join('\n'));

  // No child is left behind, and every port is free again.
  for (const pid of children) {
    await eventually(async () => !alive(pid), 5_000, `child ${pid} to be gone`);
    pidsToReap.splice(pidsToReap.indexOf(pid), 1);
  }
  for (const p of [port, workerPort, workerPort + 1]) {
    await eventually(() => isFree(p), 5_000, `port ${p} to be free again`);
  }
  return { data, port, workerPort };
}

interface StartRun {
  /** SIGINT to the whole process group, as Ctrl-C in a terminal does, rather than to the start process alone. */
  wholeGroup?: boolean;
  data?: string;
  port?: number;
  workerPort?: number;
  /** The id it posts. */
  id?: string;
  /** Ids posted by earlier runs on the same data, newest first. */
  earlier?: string[];
}

test('tweetdb start: comes up, serves requests, and SIGINT stops it and every child with exit code 0', async (t) => {
  await startUseAndInterrupt(t, {});
});

test('tweetdb start: Ctrl-C in a terminal (SIGINT to the whole process group) stops everything with exit code 0', async (t) => {
  await startUseAndInterrupt(t, { wholeGroup: true });
});

test('tweetdb start again on the same data directory and ports: the earlier tweets are still there', async (t) => {
  const first = await startUseAndInterrupt(t, { wholeGroup: true, id: 'first-run' });
  await startUseAndInterrupt(t, { ...first, wholeGroup: true, id: 'second-run', earlier: ['first-run'] });
});

function readdirSyncSafe(dir: string): boolean {
  try {
    readdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

test('tweetdb --help lists the subcommands coordinator, worker, web, start and client', () => {
  const r = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  for (const cmd of ['coordinator', 'worker', 'web', 'start', 'client']) {
    assert.match(r.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'), `--help lists ${cmd}:\n${r.stdout}`);
  }
});

test('tweetdb coordinator --lock-timeout -1 exits non-zero with a message naming the flag and the allowed range', () => {
  const data = mkdtempSync(join(tmpdir(), 'tweetdb-flag-'));
  dirs.push(data);
  // --port 0 and --data keep it harmless if it were (wrongly) accepted; the timeout stops it then.
  const r = spawnSync(process.execPath, [BIN, 'coordinator', '--lock-timeout', '-1', '--port', '0', '--host', HOST, '--data', data], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
  assert.equal(r.signal, null, `it exits by itself rather than running:\n${r.stdout}\n${r.stderr}`);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--lock-timeout/);
  assert.match(r.stderr, /-1/);
  assert.match(r.stderr, /lock timeout is a number of seconds above 0/);
});
