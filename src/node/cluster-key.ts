// The cluster's shared secret: every link between nodes proves that both ends
// hold it (src/node/link-auth.ts). It lives in a file of its own, mode 0600,
// made by `tweetdb start` or printed by `tweetdb secret`.

import { randomBytes } from 'node:crypto';
import { openSync, readFileSync, statSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { isIP } from 'node:net';
import { CLUSTER_KEY_FILE_MAX_BYTES, CLUSTER_KEY_MIN_BYTES } from '../wire/limits.ts';

/** Bytes of a new key (256 bits), written as hex. */
export const CLUSTER_KEY_BYTES = 32;

export class ClusterKeyError extends Error {
  readonly code = 'CLUSTER_KEY';
}

/** A new key, as the text of a key file. */
export function newClusterKeyText(): string {
  return randomBytes(CLUSTER_KEY_BYTES).toString('hex') + '\n';
}

function parseKey(text: string, path: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length % 2 !== 0 || hex.length < CLUSTER_KEY_MIN_BYTES * 2) {
    throw new ClusterKeyError(
      `the cluster key file ${path} must hold at least ${CLUSTER_KEY_MIN_BYTES} bytes as hex on one line; make one with \`npx tweetdb secret > ${path}\``,
    );
  }
  return Buffer.from(hex, 'hex');
}

/** Reads a key file; refuses one that others may read, as ssh does with private keys. */
export function readClusterKeyFile(path: string): Buffer {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new ClusterKeyError(`cannot read the cluster key file ${path}: ${(e as Error).message}; make one with \`npx tweetdb secret > ${path}\` (then chmod 600 it)`);
  }
  if (!st.isFile() || st.size > CLUSTER_KEY_FILE_MAX_BYTES) throw new ClusterKeyError(`${path} is not a cluster key file (make one with \`npx tweetdb secret\`)`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new ClusterKeyError(`the cluster key file ${path} can be read by other users (mode ${(st.mode & 0o777).toString(8)}); run \`chmod 600 ${path}\``);
  }
  return parseKey(readFileSync(path, 'utf8'), path);
}

/** Reads the key file, making it first (mode 0600) when it does not exist: what `tweetdb start` does. */
export function ensureClusterKeyFile(path: string): Buffer {
  mkdirSync(dirname(path), { recursive: true });
  let fd: number | null = null;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new ClusterKeyError(`cannot create the cluster key file ${path}: ${(e as Error).message}`);
  }
  if (fd !== null) {
    try {
      writeSync(fd, newClusterKeyText());
    } finally {
      closeSync(fd);
    }
  }
  return readClusterKeyFile(path);
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h.startsWith('::ffff:127.');
  return false;
}

/**
 * Protected mode, as Redis has it: a node that others can reach must hold the cluster key,
 * or anyone on the network could act as a node (read every row, forge commits, register).
 */
export function checkProtectedMode(host: string, key: Buffer | null, what: string): void {
  if (key !== null || isLoopbackHost(host)) return;
  throw new ClusterKeyError(
    `refusing to run the ${what} on ${host} without a cluster key: any machine that reaches it could act as a node. ` +
      'Make a key with `npx tweetdb secret > cluster.key && chmod 600 cluster.key`, copy it to every node, and pass ' +
      '--cluster-key-file cluster.key (or TWEETDB_CLUSTER_KEY_FILE); or bind 127.0.0.1',
  );
}
