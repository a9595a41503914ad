// Real tweetdb processes on loopback, on ephemeral ports, for integration tests. The cluster and
// the launcher live in src/launch (the chaos run uses them too); this adds what only tests need.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { BIN } from '../../src/launch/processes.ts';

export { LocalCluster as Cluster, type ClusterOptions } from '../../src/launch/cluster.ts';
export { eventually } from '../../src/launch/eventually.ts';
export { BIN, spawnNode, waitExit, type NodeProc } from '../../src/launch/processes.ts';

/**
 * Ports handed out for a server to bind later come from below Linux's ephemeral range (32768 and up):
 * a port from that range can be taken meanwhile as the local end of any outgoing connection (the
 * fuzzers open thousands), and a test that starts a server twice on one port would then find it taken.
 */
export const FIXED_PORT_RANGE = { from: 20_000, to: 32_000 } as const;

/** A port that is free on `host` right now, from FIXED_PORT_RANGE (bound, read, closed). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = FIXED_PORT_RANGE.from + Math.floor(Math.random() * (FIXED_PORT_RANGE.to - FIXED_PORT_RANGE.from));
    if (await canBind(host, p)) return p;
  }
  throw new Error(`no free port on ${host} in ${FIXED_PORT_RANGE.from}-${FIXED_PORT_RANGE.to}`);
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** What a `tweetdb` command printed and how it ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `tweetdb ARGS` as its own process and collects what it prints; rejects (after killing it)
 * when it has not exited within `timeoutMs`. `spawned` gets the process, for a test's cleanup.
 */
export function runTweetdb(args: string[], timeoutMs: number, spawned: ChildProcess[] = []): Promise<CliRun> {
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.push(p);
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`tweetdb ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
