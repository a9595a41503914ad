// Accounts and sessions, stored in the cluster itself (items of kind `user` and
// `session`) so that every web server sees the same ones and they survive
// restarts. Passwords are hashed with scrypt; a session is a random token in an
// HttpOnly cookie, stored under the SHA-256 of the token, so that the stored
// data alone cannot be used to sign in.
//
// Each account has an `epoch` (0 when absent) and each session the epoch it
// was made in. A session counts only while the epochs match, so changing the
// password (epoch + 1, this session moved to it, one transaction) ends every
// other session at once, whichever web server made it and however many there
// are, without a list of them. A closed account keeps its item as a tombstone
// (no password, `closed_at`), so its name is never given to someone else, who
// would then own its tweets.

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
  /** Sessions made in another epoch are over (see the top of this file). */
  epoch: number;
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
    return { key, epoch: epochOf(v), username: typeof v.username === 'string' ? v.username : key, password: typeof v.password === 'string' ? v.password : undefined, value: v };
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

  /**
   * A fresh session for every sign-in (so a token planted before it is worthless); returns the token
   * for the cookie. `epoch`: the account's, as read when the password was checked (a password change
   * in between ends this session too).
   */
  async createSession(username: string, now: number, epoch?: number): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const e = epoch ?? (await this.stored(accountKey(username)))?.epoch ?? 0;
    await coordinatorCall(this.pool, { action: 'put_item', item: { kind: 'session', key: sessionKey(token), value: this.sessionValue(username, now, e) }, if_absent: true }, 'write');
    return token;
  }

  private sessionValue(username: string, now: number, epoch: number): Record<string, unknown> {
    return { username, created_at: now, expires_at: now + this.sessionTtlMs, epoch };
  }

  /** The signed-in user of a session token, or null when there is no such live session. */
  async sessionUser(token: string, now: number): Promise<string | null> {
    const r = await coordinatorCall(this.pool, { action: 'get_item', item: { kind: 'session', key: sessionKey(token) } }, 'read', {}, ['NOT_FOUND']);
    if (r.status !== 'OK') return null;
    const v = (r.item as { value: { username?: unknown; expires_at?: unknown; epoch?: unknown } }).value;
    if (typeof v.username !== 'string' || typeof v.expires_at !== 'number' || v.expires_at <= now) return null;
    // The account's epoch: a password change or a closed account ends the session (a second read,
    // the price of ending every other session in one write without listing them).
    const account = await this.find(v.username);
    if (account === null || account.password === undefined || account.epoch !== epochOf(v)) return null;
    return v.username;
  }

  /** The epoch of a signed-in account, for a session made now (see createSession). */
  async epochOf(username: string): Promise<number> {
    return (await this.find(username))?.epoch ?? 0;
  }

  /**
   * Checks `current`, then in one transaction stores the new password under the next epoch and
   * moves this session (`token`) to it: every other session of the account ends with it.
   */
  async changePassword(username: string, current: string, password: string, token: string, now: number): Promise<void> {
    await this.checkPassword(username, current);
    const account = await this.find(username);
    if (account === null || account.password === undefined) throw new ProblemError('UNAUTHENTICATED', 'your session ended; sign in again');
    const epoch = account.epoch + 1;
    const hash = await hashPassword(password);
    const ops = [
      { action: 'put_item', item: { kind: 'user', key: account.key, value: { ...account.value, password: hash, epoch, password_changed_at: new Date(now).toISOString() } } },
      { action: 'put_item', item: { kind: 'session', key: sessionKey(token), value: this.sessionValue(account.username, now, epoch) } },
    ];
    await coordinatorCall(this.pool, { action: 'transaction', ops }, 'write', { LOCKED: 'your account is being changed by another request right now; try again in a moment' });
  }

  /**
   * Checks `password`, then in one transaction leaves a tombstone for the account (no password, the
   * next epoch: every session ends, the name stays taken) and deletes this session. Its tweets stay.
   */
  async closeAccount(username: string, password: string, token: string, now: number): Promise<void> {
    await this.checkPassword(username, password);
    const account = await this.find(username);
    if (account === null) throw new ProblemError('UNAUTHENTICATED', 'your session ended; sign in again');
    const ops = [
      { action: 'put_item', item: { kind: 'user', key: account.key, value: { username: account.username, epoch: account.epoch + 1, closed_at: new Date(now).toISOString() } } },
      { action: 'delete_item', item: { kind: 'session', key: sessionKey(token) } },
    ];
    await coordinatorCall(this.pool, { action: 'transaction', ops }, 'write', { LOCKED: 'your account is being changed by another request right now; try again in a moment' });
  }

  /** Ends the session on the server: a copy of the cookie is worthless afterwards. */
  async endSession(token: string): Promise<void> {
    await coordinatorCall(this.pool, { action: 'delete_item', item: { kind: 'session', key: sessionKey(token) } }, 'write', {}, ['NOT_FOUND']);
  }
}

/** The `epoch` of a stored account or session: 0 when absent (items made before epochs). */
function epochOf(value: Record<string, unknown>): number {
  return typeof value.epoch === 'number' && Number.isSafeInteger(value.epoch) ? value.epoch : 0;
}

export function sessionKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
