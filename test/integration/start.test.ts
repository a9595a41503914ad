// `tweetdb start` as a user runs it, Ctrl-C included; and the command line's help and flag checks.

import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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

/**
 * The tweetdb nodes among the processes whose parent is `ppid` (Linux /proc): a process running bin/tweetdb.js.
 * Other children are not nodes: tsx starts an esbuild service as a child of whatever process first compiles a
 * file missing from its cache (a fresh clone, a changed file).
 */
function nodeChildrenOf(ppid: number): number[] {
  return childrenOf(ppid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('tweetdb.js');
    } catch {
      return false;
    }
  });
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
  const isWebLine = (l: string): boolean => /^\s+web:\s+http:\/\//.test(l);
  // The lines of the banner arrive one by one: wait for the web app's, which follows the first.
  await eventually(async () => {
    if (proc.exitCode !== null) throw new Error(`tweetdb start exited (${proc.exitCode}):\n${output.join('\n')}`);
    return output.some((l) => l.includes(upLine)) && output.some(isWebLine);
  }, 45_000, `the lines "${upLine}" and "web: http://..."`, () => output.join('\n'));
  assert.ok(output.some((l) => l.includes(`${upLine} with 2 workers`)), output.join('\n'));
  // The web app is up too, and its URL printed: it answers (a signed-out visitor gets 401 from the API).
  const webLine = output.find(isWebLine);
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

  const children = nodeChildrenOf(proc.pid ?? -1);
  pidsToReap.push(...childrenOf(proc.pid ?? -1));
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

// ---------------------------------------------------------------------------
// The supervisor: a child that dies is restarted, Ctrl-C is bounded, a taken port is one line.

/** Whether a process runs (a zombie, exited but not yet reaped, does not: it holds no port and does no work). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The child of `startPid` running `tweetdb <role> ...` (role and, for a worker, its port), or undefined. */
function childRunning(startPid: number, ...argv: string[]): number | undefined {
  return childrenOf(startPid).find((pid) => {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const at = args.indexOf(BIN);
      return at >= 0 && argv.every((a, i) => args[at + 1 + i] === a) && running(pid);
    } catch {
      return false;
    }
  });
}

interface Started {
  proc: ChildProcess;
  output: string[];
  coordinator: string;
  workerPort: number;
  /** Resolves with the exit code and signal of tweetdb start. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `tweetdb start` with 2 workers and these extra flags until it says it is up. */
async function startCluster(extra: string[], coordinatorPort?: number): Promise<Started> {
  const data = mkdtempSync(join(tmpdir(), 'tweetdb-start-'));
  dirs.push(data);
  const workerPort = await freePortPair();
  const port = coordinatorPort ?? (await freePort());
  const proc = spawn(process.execPath, [BIN, 'start', '--workers', '2', '--data', data, '--port', String(port), '--worker-port', String(workerPort), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.push(proc);
  const output: string[] = [];
  for (const s of [proc.stdout, proc.stderr]) createInterface({ input: s }).on('line', (l) => output.push(l));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  let coordinator = '';
  await eventually(
    async () => {
      if (proc.exitCode !== null) return true;
      const up = output.map((l) => /^tweetdb is up: coordinator at (\S+) with 2 workers/.exec(l)).find((m) => m !== null);
      if (up) coordinator = up[1] as string;
      return up !== undefined;
    },
    45_000,
    'tweetdb start to say it is up',
    () => output.join('\n'),
  );
  assert.notEqual(coordinator, '', `tweetdb start exited (${proc.exitCode}) before it was up:\n${output.join('\n')}`);
  pidsToReap.push(...childrenOf(proc.pid ?? -1));
  return { proc, output, coordinator, workerPort, exit };
}

/** Posts until one is OK (a write needs every worker up): the reply. */
async function postUntilOk(coordinator: string, id: string, output: string[]): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> | undefined;
  let n = 0;
  await eventually(
    async () => {
      last = (await sendAndClose(coordinator, `{"action":"post","tweet":{"id":"${id}-${n++}","username":"ada","content":"after the restart"}}\n`))[0];
      return last?.status === 'OK';
    },
    30_000,
    `a post of ${id} to succeed`,
    () => `${JSON.stringify(last)}\n${output.join('\n')}`,
  );
  return last as Record<string, unknown>;
}

async function interruptAndWait(s: Started): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const children = childrenOf(s.proc.pid ?? -1);
  s.proc.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([s.exit, new Promise<null>((res) => (timer = setTimeout(() => res(null), 10_000)))]);
  clearTimeout(timer);
  assert.ok(r !== null, `tweetdb start exits within 10 s of SIGINT:\n${s.output.join('\n')}`);
  for (const pid of children) await eventually(async () => !running(pid), 5_000, `child ${pid} to be gone`);
  return r;
}

test('tweetdb start: a worker killed with kill -9 is restarted, writes succeed again, and check counts its restart', async () => {
  const s = await startCluster(['--no-web']);
  const first = (await sendAndClose(s.coordinator, '{"action":"post","tweet":{"id":"before","username":"ada","content":"before the kill"}}\n'))[0];
  assert.equal(first?.status, 'OK', JSON.stringify(first));

  const victim = childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort));
  const other = childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort + 1));
  assert.ok(victim !== undefined && other !== undefined, s.output.join('\n'));
  process.kill(victim, 'SIGKILL');

  // The death and the restart are each a readable line; the supervisor itself keeps running.
  const died = new RegExp(`worker ${s.workerPort} died \\(killed by SIGKILL\\) after [\\d.]+ s; restart 1 in 0\\.5 s`);
  await eventually(async () => s.output.some((l) => died.test(l)), 10_000, 'the death to be logged', () => s.output.join('\n'));
  await eventually(async () => s.output.some((l) => l.includes(`worker ${s.workerPort} restarted (restart 1, pid `)), 10_000, 'the restart to be logged', () => s.output.join('\n'));
  const again = childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort));
  assert.ok(again !== undefined && again !== victim, `a new worker ${s.workerPort} process runs`);
  assert.equal(childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort + 1)), other, 'the other worker was left alone');
  assert.equal(s.proc.exitCode, null, 'tweetdb start still runs');

  await postUntilOk(s.coordinator, 'after', s.output);
  const tweets = (await sendAndClose(s.coordinator, '{"action":"get_tweets"}\n'))[0];
  assert.ok((tweets?.tweets as { id: string }[]).some((t) => t.id === 'before'), JSON.stringify(tweets));

  // `check` counts the restart on that worker only, and the copies agree again.
  let check: { address: string; restarts: number; digest: string; state: string }[] = [];
  await eventually(
    async () => {
      check = (await sendAndClose(s.coordinator, '{"action":"check"}\n'))[0]?.workers as typeof check;
      return check.length === 2 && check.every((w) => w.state === 'up' && w.digest === check[0]?.digest);
    },
    20_000,
    'both workers up with equal digests',
    () => JSON.stringify(check),
  );
  assert.deepEqual(check.map((w) => [w.address, w.restarts]).sort(), [[`${HOST}:${s.workerPort}`, 1], [`${HOST}:${s.workerPort + 1}`, 0]]);
  const status = (await sendAndClose(s.coordinator, '{"action":"status"}\n'))[0];
  assert.equal((status?.counters as { restarts: number }).restarts, 0, 'the coordinator was not restarted');

  const r = await interruptAndWait(s);
  assert.deepEqual(r, { code: 0, signal: null }, s.output.join('\n'));
  assert.ok(s.output.some((l) => l.includes(`restarts: worker ${s.workerPort} 1`)), `the summary names the restart:\n${s.output.join('\n')}`);
});

test('tweetdb start: the coordinator killed with kill -9 is restarted, the cluster serves again, and status counts its restart', async () => {
  const s = await startCluster(['--no-web']);
  const first = (await sendAndClose(s.coordinator, '{"action":"post","tweet":{"id":"before","username":"ada","content":"before the kill"}}\n'))[0];
  assert.equal(first?.status, 'OK', JSON.stringify(first));
  const victim = childRunning(s.proc.pid ?? -1, 'coordinator');
  const workers = [childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort)), childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort + 1))];
  assert.ok(victim !== undefined, s.output.join('\n'));
  process.kill(victim, 'SIGKILL');

  await eventually(async () => s.output.some((l) => /coordinator died \(killed by SIGKILL\) after [\d.]+ s; restart 1 in 0\.5 s/.test(l)), 10_000, 'the death to be logged', () => s.output.join('\n'));
  await postUntilOk(s.coordinator, 'after', s.output);
  const tweets = (await sendAndClose(s.coordinator, '{"action":"get_tweets"}\n'))[0];
  assert.ok((tweets?.tweets as { id: string }[]).some((t) => t.id === 'before'), JSON.stringify(tweets));

  const status = (await sendAndClose(s.coordinator, '{"action":"status"}\n'))[0];
  assert.equal((status?.counters as { restarts: number }).restarts, 1, JSON.stringify(status));
  assert.deepEqual((status?.workers as { state: string }[]).map((w) => w.state), ['up', 'up']);
  // The workers kept running through it.
  assert.deepEqual([childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort)), childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort + 1))], workers);

  const r = await interruptAndWait(s);
  assert.deepEqual(r, { code: 0, signal: null }, s.output.join('\n'));
  assert.ok(s.output.some((l) => l.includes('restarts: coordinator 1')), s.output.join('\n'));
});

test('tweetdb start: SIGINT while a child does not stop (frozen with SIGSTOP): the child is SIGKILLed after the grace, the whole tree is gone, nothing is restarted', async () => {
  const s = await startCluster(['--web-port', '0']);
  const children = nodeChildrenOf(s.proc.pid ?? -1);
  assert.equal(children.length, 4, `a coordinator, 2 workers and the web app: ${children.join(', ')}`);
  const frozen = childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort));
  assert.ok(frozen !== undefined);
  process.kill(frozen, 'SIGSTOP');

  const r = await interruptAndWait(s);
  assert.deepEqual(r, { code: 0, signal: null }, s.output.join('\n'));
  for (const pid of children) assert.ok(!running(pid), `child ${pid} is gone`);
  const stopAt = s.output.findIndex((l) => l.includes('stopping tweetdb...'));
  assert.ok(stopAt >= 0, s.output.join('\n'));
  assert.ok(s.output.some((l) => l.includes(`worker ${s.workerPort} did not stop within 3 s of SIGTERM; killing (SIGKILL)`)), s.output.join('\n'));
  assert.deepEqual(s.output.slice(stopAt).filter((l) => / died \(| restarted \(/.test(l)), [], 'no death is taken for a crash and nothing restarts while stopping');
  assert.ok(s.output.some((l) => l.includes('tweetdb stopped')), s.output.join('\n'));
});

test('tweetdb start: a second SIGINT kills every child at once (exit code 130)', async () => {
  const s = await startCluster(['--no-web']);
  const children = childrenOf(s.proc.pid ?? -1);
  const frozen = childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort));
  assert.ok(frozen !== undefined);
  process.kill(frozen, 'SIGSTOP');
  s.proc.kill('SIGINT');
  await eventually(async () => s.output.some((l) => l.includes('stopping tweetdb...')), 10_000, 'the stop to begin', () => s.output.join('\n'));
  s.proc.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([s.exit, new Promise<null>((res) => (timer = setTimeout(() => res(null), 10_000)))]);
  clearTimeout(timer);
  assert.deepEqual(r, { code: 130, signal: null }, s.output.join('\n'));
  assert.ok(s.output.some((l) => /second interrupt: killing .*worker/.test(l)), s.output.join('\n'));
  assert.ok(!s.output.some((l) => l.includes('did not stop within')), 'it did not wait for the grace');
  for (const pid of children) await eventually(async () => !running(pid), 5_000, `child ${pid} to be gone`);
});

test('tweetdb start --port 0: the coordinator gets a free port, which the workers are told and a restart keeps', async () => {
  const s = await startCluster(['--no-web'], 0);
  const port = Number(s.coordinator.split(':')[1]);
  assert.ok(port > 0, s.coordinator);
  const first = (await sendAndClose(s.coordinator, '{"action":"post","tweet":{"id":"p0","username":"ada","content":"on a free port"}}\n'))[0];
  assert.equal(first?.status, 'OK', JSON.stringify(first));
  const coordinatorPid = childRunning(s.proc.pid ?? -1, 'coordinator');
  assert.ok(coordinatorPid !== undefined);
  process.kill(coordinatorPid, 'SIGKILL');
  // Restarted on the same port: the workers (and any client) find it where it was.
  await postUntilOk(s.coordinator, 'p0-after', s.output);
  const r = await interruptAndWait(s);
  assert.deepEqual(r, { code: 0, signal: null }, s.output.join('\n'));
});

test('tweetdb start --evict-after 3 --min-voters 1: the coordinator is given both; a worker that exits with code 0 by itself (as a removed worker does) is not restarted', async () => {
  const s = await startCluster(['--no-web', '--evict-after', '3', '--min-voters', '1']);
  const coordinatorPid = childRunning(s.proc.pid ?? -1, 'coordinator');
  assert.ok(coordinatorPid !== undefined, s.output.join('\n'));
  const argv = readFileSync(`/proc/${coordinatorPid}/cmdline`, 'utf8').split('\0');
  assert.equal(argv[argv.indexOf('--evict-after') + 1], '3', argv.join(' '));
  assert.equal(argv[argv.indexOf('--min-voters') + 1], '1', argv.join(' '));

  // SIGTERM stops a worker cleanly, with exit code 0: to the supervisor, the same as a worker that was removed.
  const leaving = childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort));
  assert.ok(leaving !== undefined, s.output.join('\n'));
  process.kill(leaving, 'SIGTERM');
  const line = new RegExp(`worker ${s.workerPort} exited by itself \\(exit code 0, as a worker removed from the cluster does\\) after [\\d.]+ s; not restarting it`);
  await eventually(async () => s.output.some((l) => line.test(l)), 10_000, 'the exit to be logged', () => s.output.join('\n'));
  await new Promise((r) => setTimeout(r, 1_500)); // longer than the first restart's wait (0.5 s)
  assert.equal(childRunning(s.proc.pid ?? -1, 'worker', String(s.workerPort)), undefined, 'no new worker process');
  assert.ok(!s.output.some((l) => l.includes(`worker ${s.workerPort} restarted`) || l.includes(`worker ${s.workerPort} died`)), s.output.join('\n'));
  assert.equal(s.proc.exitCode, null, 'tweetdb start still runs');

  const r = await interruptAndWait(s);
  assert.deepEqual(r, { code: 0, signal: null }, s.output.join('\n'));
});

test('tweetdb coordinator --evict-after 0 and --min-voters 33 exit non-zero naming the flag and the allowed range', () => {
  const data = mkdtempSync(join(tmpdir(), 'tweetdb-flag-'));
  dirs.push(data);
  for (const [flag, value, why] of [
    ['--evict-after', '0', /eviction delay is a number of seconds above 0 and at most 86400/],
    ['--min-voters', '33', /least number of voters is a whole number from 1 to 32/],
  ] as const) {
    const r = spawnSync(process.execPath, [BIN, 'coordinator', flag, value, '--port', '0', '--host', HOST, '--data', data], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
    assert.equal(r.signal, null, `it exits by itself rather than running:\n${r.stdout}\n${r.stderr}`);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(flag));
    assert.match(r.stderr, why);
  }
});

/** A server holding a port on HOST: the port, and a function that frees it. */
async function holdPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, HOST, () => r()));
  const a = s.address();
  const port = a !== null && typeof a === 'object' ? a.port : 0;
  return { port, release: () => new Promise((r) => s.close(() => r())) };
}

function assertOneLine(r: ReturnType<typeof spawnSync>, line: string): void {
  const stderr = String(r.stderr);
  const stdout = String(r.stdout);
  assert.equal(r.signal, null, `it exits by itself:\n${stdout}\n${stderr}`);
  assert.equal(r.status, 2, `${stdout}\n${stderr}`);
  assert.equal(stderr, `${line}\n`, 'one line on standard error, naming the port and the flag');
  assert.ok(!/^\s+at /m.test(stdout + stderr), 'no stack trace');
}

test('tweetdb start with a taken port (coordinator, worker or web) says so in one line naming the port and the flag, exits 2, and starts nothing', async () => {
  const held = await holdPort();
  try {
    const cases: [string[], string][] = [
      [['--port', String(held.port)], `tweetdb: port ${held.port} is taken (another tweetdb?); pick another with --port or TWEETDB_PORT`],
      [['--port', '0', '--worker-port', String(held.port)], `tweetdb: port ${held.port} is taken (another tweetdb?); pick another with --worker-port or TWEETDB_WORKER_PORT (worker ports are ${held.port} to ${held.port + 1})`],
      [['--port', '0', '--web-port', String(held.port)], `tweetdb: port ${held.port} is taken (another tweetdb?); pick another with --web-port or TWEETDB_WEB_PORT (or --no-web)`],
    ];
    for (const [flags, line] of cases) {
      const data = join(mkdtempSync(join(tmpdir(), 'tweetdb-taken-')), 'data');
      dirs.push(data);
      // The default worker ports may be busy on this machine: give free ones unless the case is about them.
      const workerPort = flags.includes('--worker-port') ? [] : ['--worker-port', String(await freePortPair())];
      const r = spawnSync(process.execPath, [BIN, 'start', '--data', data, ...workerPort, ...flags], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
      assertOneLine(r, line);
      assert.equal(r.stdout, '', 'nothing was started, so nothing logged');
      assert.ok(!existsSync(data), 'no node created its data directory');
    }
  } finally {
    await held.release();
  }
});

test('tweetdb coordinator, worker and web alone on a taken port: one line naming the port and the flag, exit 2, no stack trace', async () => {
  const held = await holdPort();
  const data = mkdtempSync(join(tmpdir(), 'tweetdb-taken-'));
  dirs.push(data);
  try {
    const cases: [string[], string][] = [
      [['coordinator', '--port', String(held.port), '--data', join(data, 'c')], `tweetdb: port ${held.port} is taken (another tweetdb?); pick another with --port or TWEETDB_PORT`],
      [['worker', String(held.port), '--data', join(data, 'w')], `tweetdb: port ${held.port} is taken (another tweetdb?); pick another with the PORT argument (tweetdb worker PORT)`],
      // (The web app needs the admin token: the coordinator above made it in its data directory before it tried to listen.)
      [['web', '--port', String(held.port), '--admin-token-file', join(data, 'c', 'admin.token')], `tweetdb: port ${held.port} is taken (another tweetdb?); pick another with --port or TWEETDB_WEB_PORT`],
    ];
    for (const [args, line] of cases) {
      // --coordinator on a port nobody listens on: a worker that (wrongly) started would only retry.
      const extra = args[0] === 'coordinator' ? [] : ['--coordinator', `${HOST}:9`];
      const r = spawnSync(process.execPath, [BIN, ...args, '--host', HOST, ...extra], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
      assertOneLine(r, line);
    }
  } finally {
    await held.release();
  }
});
