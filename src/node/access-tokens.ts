// The credentials a client shows the coordinator with {"action":"auth","token":...} (README
// Security, "Roles"): the admin token, which every coordinator has (made in its data directory,
// mode 0600, at its first start, unless --admin-token-file names one), and the optional client
// token (--client-token-file), which gates even the open API. Each lives in a file of its own,
// mode 0600 like the cluster key; tokens are compared in constant time, through their SHA-256.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { CLIENT_TOKEN_FILE_MAX_BYTES, CLIENT_TOKEN_MAX_CHARS, CLIENT_TOKEN_MIN_CHARS } from '../wire/limits.ts';

export type TokenKind = 'client' | 'admin';

/** The admin token's file in a coordinator's data directory, when --admin-token-file names none. */
export const ADMIN_TOKEN_FILE_NAME = 'admin.token';

export class AccessTokenError extends Error {
  readonly code = 'ACCESS_TOKEN';
}

/** Reads a token file (its first line, trimmed); refuses one others may read. */
export function readTokenFile(path: string, kind: TokenKind): string {
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile() || st.size > CLIENT_TOKEN_FILE_MAX_BYTES) throw new AccessTokenError(`${path} is not a ${kind} token file (one line, at most ${CLIENT_TOKEN_MAX_CHARS} characters)`);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new AccessTokenError(`the ${kind} token file ${path} can be read by other users (mode ${(st.mode & 0o777).toString(8)}); run \`chmod 600 ${path}\``);
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof AccessTokenError) throw e;
    throw new AccessTokenError(`cannot read the ${kind} token file ${path}: ${(e as Error).message}`);
  }
  const token = (text.split('\n')[0] ?? '').trim();
  if (token.length < CLIENT_TOKEN_MIN_CHARS || token.length > CLIENT_TOKEN_MAX_CHARS) {
    throw new AccessTokenError(`the ${kind} token in ${path} must be ${CLIENT_TOKEN_MIN_CHARS} to ${CLIENT_TOKEN_MAX_CHARS} characters on its first line (\`tweetdb secret\` makes a good one)`);
  }
  return token;
}

/** Reads the admin token file, making it first (mode 0600, 256 random bits as hex) when it does not exist. */
export function ensureAdminTokenFile(path: string): string {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (e) {
    throw new AccessTokenError(`cannot create the directory of the admin token file ${path}: ${(e as Error).message}`);
  }
  let fd: number | null = null;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new AccessTokenError(`cannot create the admin token file ${path}: ${(e as Error).message}`);
  }
  if (fd !== null) {
    try {
      writeSync(fd, randomBytes(32).toString('hex') + '\n');
    } finally {
      closeSync(fd);
    }
  }
  return readTokenFile(path, 'admin');
}

/** Holds the digest of one token and checks what clients send. */
export class TokenCheck {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = createHash('sha256').update(token).digest();
  }

  matches(given: unknown): boolean {
    if (typeof given !== 'string' || given.length > CLIENT_TOKEN_MAX_CHARS) return false;
    return timingSafeEqual(createHash('sha256').update(given).digest(), this.digest);
  }
}
