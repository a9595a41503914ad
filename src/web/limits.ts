// The web server's limits on sign-in and sign-up, and which proxies it trusts
// to say who the client is. Every number a user can meet is here, named.

import { isIP } from 'node:net';

/**
 * Sign-in and sign-up attempts from one client address in a window; one more is 429. The
 * address is the socket's, or, through a proxy named by --trust-proxy, the client's address
 * that proxy forwarded (X-Forwarded-For).
 */
export const AUTH_PER_ADDRESS = { max: 10, windowMs: 60_000 } as const;

/**
 * Sign-in and sign-up attempts naming one account (its username in any case) in a window,
 * from any number of addresses; one more is 429 until the window ends. Every attempt counts,
 * not only failed ones: a failure is known only after the password hash (tens of ms), so
 * counting failures would let guesses sent in parallel through before the first is counted.
 */
export const AUTH_PER_ACCOUNT = { max: 10, windowMs: 60_000 } as const;

/**
 * Counters kept by each of the two limits (least recently used dropped first). An entry is a
 * few dozen bytes; at this size, evicting a guessed account's counter takes attempts at 100,000
 * other names within the window, which the per-address limit stretches over 10,000 addresses.
 */
export const AUTH_LIMITER_KEYS = 100_000;

/** Names of address ranges that fastify's trustProxy (proxy-addr) understands. */
const RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'] as const;

/** The longest --trust-proxy list accepted (entries). */
export const TRUST_PROXY_MAX_ENTRIES = 64;

/**
 * Parses --trust-proxy: a comma-separated list of the proxies' addresses or CIDR ranges
 * (`127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`) or range names (`loopback`, `linklocal`,
 * `uniquelocal`). Only a request whose socket comes from one of them has its X-Forwarded-For
 * believed. `true` (believe anyone) is refused: any client could then choose its address.
 */
export function parseTrustProxy(v: string): string[] {
  const entries = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (entries.length === 0) throw new Error('name the proxy: a comma-separated list of addresses or CIDR ranges, for example 127.0.0.1 or 10.0.0.0/8');
  if (entries.length > TRUST_PROXY_MAX_ENTRIES) throw new Error(`at most ${TRUST_PROXY_MAX_ENTRIES} proxy addresses or ranges`);
  for (const e of entries) {
    if ((RANGE_NAMES as readonly string[]).includes(e)) continue;
    const [addr = '', bits, ...rest] = e.split('/');
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    const bitsOk = bits === undefined || (/^[0-9]{1,3}$/.test(bits) && Number(bits) <= max);
    if (family === 0 || !bitsOk || rest.length > 0) {
      const hint = e === 'true' || e === '*' ? ' (trusting every address would let any client choose its own address: name the proxy)' : '';
      throw new Error(`"${e}" is not an IP address, a CIDR range or one of ${RANGE_NAMES.join(', ')}${hint}`);
    }
  }
  return entries;
}
