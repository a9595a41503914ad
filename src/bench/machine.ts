// What the benchmark ran on: CPU, cores, memory, Node, and how fast the disk
// under the data directory does fsyncs one at a time (which bounds any durable
// commit that is not batched).

import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { cpus, release, totalmem, type as osType } from 'node:os';
import { join } from 'node:path';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  /** Appends of 4 KiB each followed by fsync, one at a time, per second. */
  fsyncsPerSec: number;
}

/** Measures sequential 4 KiB write+fsync in a temporary directory under `parent` for `ms`. */
export function measureFsyncRate(parent: string, ms = 2_000): number {
  const dir = mkdtempSync(join(parent, 'tweetdb-fsync-'));
  const fd = openSync(join(dir, 'probe'), 'w');
  const block = Buffer.alloc(4096, 7);
  let n = 0;
  const t0 = performance.now();
  try {
    while (performance.now() - t0 < ms) {
      writeSync(fd, block);
      fsyncSync(fd);
      n++;
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return Math.round(n / ((performance.now() - t0) / 1000));
}

export function describeMachine(dataParent: string): Machine {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
    fsyncsPerSec: measureFsyncRate(dataParent),
  };
}
