// Optional client credentials: with --client-token-file on the coordinator, a client must send
// {"action":"auth","token":...} before anything else on a connection. The token lives in a file
// (mode 0600, like the cluster key); it is compared in constant time, through its SHA-256.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { CLIENT_TOKEN_FILE_MAX_BYTES, CLIENT_TOKEN_MAX_CHARS, CLIENT_TOKEN_MIN_CHARS } from '../wire/limits.ts';


export class ClientTokenError extends Error {
  readonly code = 'CLIENT_TOKEN';
}

/** Reads the token file (its first line, trimmed); refuses one others may read. */
export function readClientTokenFile(path: string): string {
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile() || st.size > CLIENT_TOKEN_FILE_MAX_BYTES) throw new ClientTokenError(`${path} is not a client token file (one line, at most ${CLIENT_TOKEN_MAX_CHARS} characters)`);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new ClientTokenError(`the client token file ${path} can be read by other users (mode ${(st.mode & 0o777).toString(8)}); run \`chmod 600 ${path}\``);
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ClientTokenError) throw e;
    throw new ClientTokenError(`cannot read the client token file ${path}: ${(e as Error).message}`);
  }
  const token = (text.split('\n')[0] ?? '').trim();
  if (token.length < CLIENT_TOKEN_MIN_CHARS || token.length > CLIENT_TOKEN_MAX_CHARS) {
    throw new ClientTokenError(`the client token in ${path} must be ${CLIENT_TOKEN_MIN_CHARS} to ${CLIENT_TOKEN_MAX_CHARS} characters on its first line (\`tweetdb secret\` makes a good one)`);
  }
  return token;
}

/** Holds the digest of the coordinator's token and checks what clients send. */
export class ClientTokenCheck {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = createHash('sha256').update(token).digest();
  }

  matches(given: unknown): boolean {
    if (typeof given !== 'string' || given.length > CLIENT_TOKEN_MAX_CHARS) return false;
    return timingSafeEqual(createHash('sha256').update(given).digest(), this.digest);
  }
}
