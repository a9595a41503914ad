// A raw TCP conversation, as `nc` has it: write bytes, optionally half-close, read lines.

import { connect, type Socket } from 'node:net';

export interface RawSession {
  socket: Socket;
  lines: string[];
  closed: Promise<void>;
  /** Resolves with the n-th reply line (0-based) once it has arrived. */
  line(n: number, timeoutMs?: number): Promise<Record<string, unknown>>;
  write(text: string): void;
  end(): void;
}

export function rawSession(address: string): Promise<RawSession> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)), allowHalfOpen: true });
    const lines: string[] = [];
    let buf = '';
    const waiters: (() => void)[] = [];
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      for (const w of waiters.splice(0)) w();
    });
    const closed = new Promise<void>((r) => socket.on('close', () => {
      for (const w of waiters.splice(0)) w();
      r();
    }));
    // The server closed its side: finish ours too, as nc does, so 'close' follows.
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
    socket.once('connect', () =>
      resolve({
        socket,
        lines,
        closed,
        write: (t) => socket.write(t),
        end: () => socket.end(),
        line: (n, timeoutMs = 10_000) =>
          new Promise((res, rej) => {
            const until = Date.now() + timeoutMs;
            const check = (): void => {
              if (lines.length > n) return res(JSON.parse(lines[n] as string) as Record<string, unknown>);
              if (socket.destroyed || Date.now() > until) return rej(new Error(`no reply line ${n}; got ${JSON.stringify(lines)}`));
              waiters.push(check);
              setTimeout(check, Math.max(0, Math.min(200, until - Date.now())));
            };
            check();
          }),
      }),
    );
    socket.once('error', reject);
  });
}

/** Sends `text`, half-closes, and returns every reply line once the server closes. */
export async function sendAndClose(address: string, text: string, timeoutMs = 15_000): Promise<Record<string, unknown>[]> {
  const s = await rawSession(address);
  s.write(text);
  s.end();
  const timer = setTimeout(() => s.socket.destroy(new Error('server did not close')), timeoutMs);
  await s.closed;
  clearTimeout(timer);
  return s.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** What a worker that never joined a cluster says it holds when it registers (#23). */
export const FRESH_WORKER = { cluster: null, epoch: 0, config: { n: 0, voters: [], catching_up: [] }, proposed: null, max_cseq: 0, reserved: 0, fresh: true } as const;
