// Text rules shared by compose and edit: the server counts Unicode code
// points, not UTF-16 units, and refuses blank text.

export const MAX_TWEET = 280;
/** From this many code points on, the counter turns to a warning. */
export const WARN_AT = 260;

export function codePoints(s: string): number {
  let n = 0;
  // for..of walks code points (a surrogate pair counts once), like [...s].length
  for (const _ of s) n++;
  return n;
}

export function isBlank(s: string): boolean {
  return s.trim() === '';
}

export type LengthState = 'empty' | 'ok' | 'warn' | 'over';

export function lengthState(s: string): LengthState {
  const n = codePoints(s);
  if (isBlank(s)) return 'empty';
  if (n > MAX_TWEET) return 'over';
  if (n >= WARN_AT) return 'warn';
  return 'ok';
}

/** A random UUID v4; crypto.randomUUID only exists in secure contexts. */
export function uuid(): string {
  if (typeof crypto.randomUUID === 'function' && window.isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
