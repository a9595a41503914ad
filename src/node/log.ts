// Structured logs: one JSON line per event on standard output (pino).
// `tweetdb start` turns them into readable lines for a person at a terminal.

import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.TWEETDB_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
