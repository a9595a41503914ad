// Which proxies the web server trusts to say who the client is (--trust-proxy).
// Its limits, like every other, are in src/wire/limits.ts.

import { isIP } from 'node:net';
import { TRUST_PROXY_MAX_ENTRIES } from '../wire/limits.ts';

/** Names of address ranges that fastify's trustProxy (proxy-addr) understands. */
const RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'] as const;

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
