// Accounts and sessions, stored in the cluster itself (items of kind `user` and
// `session`) so that every web server sees the same ones and they survive
// restarts. Passwords are hashed with scrypt; a session is a random token in an
// HttpOnly cookie, stored under the SHA-256 of the token, so that the stored
// data alone cannot be used to sign in.

import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { CoordinatorPool } from '../client/pool.ts';
import { coordinatorCall } from './coordinator-call.ts';
import { ProblemError } from './problems.ts';

/** scrypt's cost: N=2^15, r=8, p=1 (about 30 ms and 32 MiB per hash on this machine's class). */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 } as const;
export const SESSION_COOKIE = 'tweetdb_session';
export const SESSION_TTL_MS = 7 * 24 * 3600 * 1000;

function scrypt(password: string, salt: Buffer, opts: { N: number; r: number; p: number; keylen: number }): Promise<Buffer> {
  const o: ScryptOptions = { N: opts.N, r: opts.r, p: opts.p, maxmem: SCRYPT.maxmem };
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFC'), salt, opts.keylen, o, (e, key) => (e ? reject(e) : resolve(key))));
}

/** `scrypt$N$r$p$salt$hash`, base64url: the parameters travel with the hash, so they can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [alg, n, r, p, salt, hash] = stored.split('$');
  if (alg !== 'scrypt' || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p), keylen: expected.length });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Verifying against this when the user does not exist keeps "no such user" as slow as "wrong password". */
let decoy: Promise<string> | null = null;

export interface Account {
  username: string;
}

/**
 * The key of an account's `user` item: its username in lower case, so that `Alice` and
 * `alice` are one account (usernames are ASCII letters, digits and `_`). The case typed at
 * sign-up is kept in the item (`value.username`) and shown everywhere.
 *
 * Accounts made before this rule are stored under the name as typed. One whose name was all
 * lower case is found as it is; one with capitals is found when its name is typed with the
 * same capitals, and its first sign-in moves it under its lower-case key (in one
 * transaction), after which it is found in any case and its name is taken in every case.
 */
export function accountKey(username: string): string {
  return username.toLowerCase();
}

interface StoredUser {
  key: string;
  /** The name as typed at sign-up. */
  username: string;
  password: string | undefined;
  /** The item's value as stored. */
  value: Record<string, unknown>;
}

export class Accounts {
  constructor(
    private readonly pool: CoordinatorPool,
    private readonly sessionTtlMs = SESSION_TTL_MS,
  ) {}

  /** Creates the account (EXISTS when the name is taken, in any case). */
  async register(username: string, password: string, now: number): Promise<void> {
    const taken = `the username ${username} is taken; choose another`;
    const key = accountKey(username);
    // An account of the previous version under exactly this spelling (nothing creates such keys any more).
    if (key !== username && (await this.stored(username)) !== null) throw new ProblemError('EXISTS', taken);
    const hash = await hashPassword(password);
    await coordinatorCall(this.pool, { action: 'put_item', item: { kind: 'user', key, value: { username, password: hash, created_at: new Date(now).toISOString() } }, if_absent: true }, 'write', {
      EXISTS: taken,
    });
  }

  private async stored(key: string): Promise<StoredUser | null> {
    const r = await coordinatorCall(this.pool, { action: 'get_item', item: { kind: 'user', key } }, 'read', {}, ['NOT_FOUND']);
    if (r.status !== 'OK') return null;
    const v = (r.item as { value: Record<string, unknown> }).value;
    return { key, username: typeof v.username === 'string' ? v.username : key, password: typeof v.password === 'string' ? v.password : undefined, value: v };
  }

  /** The account a typed name signs in to: see accountKey. */
  private async find(typed: string): Promise<StoredUser | null> {
    const key = accountKey(typed);
    const account = await this.stored(key);
    if (key === typed || account?.username === typed) return account;
    return (await this.stored(typed)) ?? account;
  }

  /**
   * Checks the password; throws UNAUTHENTICATED with one message for both unknown user and wrong
   * password. Returns the username as it was typed at sign-up.
   */
  async checkPassword(typed: string, password: string): Promise<string> {
    const account = await this.find(typed);
    decoy ??= hashPassword(randomBytes(16).toString('hex'));
    const ok = await verifyPassword(password, account?.password ?? (await decoy));
    if (account === null || account.password === undefined || !ok) throw new ProblemError('UNAUTHENTICATED', 'wrong username or password');
    if (account.key !== accountKey(account.username)) await this.moveLegacy(account);
    return account.username;
  }

  /**
   * Moves an account of the previous version to its lower-case key. If that key is taken (two
   * accounts differing only in case, made before the rule), it stays where it is, still found
   * by its exact spelling; a failure here does not fail the sign-in.
   */
  private async moveLegacy(account: StoredUser): Promise<void> {
    const key = accountKey(account.username);
    const value = { ...account.value, username: account.username };
    const ops = [
      { action: 'put_item', item: { kind: 'user', key, value }, if_absent: true },
      { action: 'delete_item', item: { kind: 'user', key: account.key } },
    ];
    await this.pool.request({ action: 'transaction', ops }).catch(() => undefined);
  }

  /** A fresh session for every sign-in (so a token planted before it is worthless); returns the token for the cookie. */
  async createSession(username: string, now: number): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await coordinatorCall(
      this.pool,
      { action: 'put_item', item: { kind: 'session', key: sessionKey(token), value: { username, created_at: now, expires_at: now + this.sessionTtlMs } }, if_absent: true },
      'write',
    );
    return token;
  }

  /** The signed-in user of a session token, or null when there is no such live session. */
  async sessionUser(token: string, now: number): Promise<string | null> {
    const r = await coordinatorCall(this.pool, { action: 'get_item', item: { kind: 'session', key: sessionKey(token) } }, 'read', {}, ['NOT_FOUND']);
    if (r.status !== 'OK') return null;
    const v = (r.item as { value: { username?: unknown; expires_at?: unknown } }).value;
    if (typeof v.username !== 'string' || typeof v.expires_at !== 'number' || v.expires_at <= now) return null;
    return v.username;
  }

  /** Ends the session on the server: a copy of the cookie is worthless afterwards. */
  async endSession(token: string): Promise<void> {
    await coordinatorCall(this.pool, { action: 'delete_item', item: { kind: 'session', key: sessionKey(token) } }, 'write', {}, ['NOT_FOUND']);
  }
}

export function sessionKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
