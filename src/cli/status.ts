// `tweetdb status`: the cluster at a glance, as a terminal table (like `etcdctl endpoint status
// -w table`). The voting set, one row per node (the coordinator, then each worker), each
// learner's progress, then the transactions in doubt. Built from the coordinator's `status` and `check` actions, nothing else: what it shows
// is what any client can ask for.

import { PLAIN_ACCESS, TweetdbClient, type ApiReply, type CoordinatorAccess } from '../client/client.ts';
import { escapeForTerminal } from './client.ts';
import type { CheckWorker, LearnerProgress, StatusWorker } from '../wire/protocol.ts';
import { differingCopies } from '../wire/check-copies.ts';

/** Exit codes: scripts and health checks branch on them. */
export const STATUS_EXIT = { healthy: 0, unhealthy: 1, unreachable: 2 } as const;

/**
 * A transaction in doubt this long counts against health. Younger ones are two-phase commit at
 * work (a commit waits for its acks for a few milliseconds): a health check must not fail on them.
 */
export const STUCK_AFTER_MS = 1_000;

/** How long one snapshot may take before the coordinator counts as unreachable (check waits on every worker). */
const REQUEST_TIMEOUT_MS = 15_000;
const CONNECT_TIMEOUT_MS = 5_000;
const WATCH_INTERVAL_MS = 1_000;

/** The raw object `--json` prints: the coordinator's two replies, as they came. */
export interface StatusSnapshot {
  coordinator: string;
  status: ApiReply;
  check: ApiReply;
}


interface InDoubt {
  txid: string;
  state: string;
  age_ms: number;
  waiting_for: string[];
}

/** Asks the coordinator for status and check over one connection. */
export async function snapshot(client: TweetdbClient, coordinator: string): Promise<StatusSnapshot> {
  const [status, check] = await Promise.all([client.request({ action: 'status' }, REQUEST_TIMEOUT_MS), client.request({ action: 'check' }, REQUEST_TIMEOUT_MS)]);
  if (status.status !== 'OK') throw new Error(`the coordinator refused status: ${status.code ?? ''} ${status.error ?? ''}`);
  if (check.status !== 'OK') throw new Error(`the coordinator refused check: ${check.code ?? ''} ${check.error ?? ''}`);
  return { coordinator, status, check };
}

function inDoubtOf(s: StatusSnapshot): InDoubt[] {
  return (s.status.in_doubt as InDoubt[] | undefined) ?? [];
}

function workersOf(s: StatusSnapshot): CheckWorker[] {
  return (s.check.workers as CheckWorker[] | undefined) ?? [];
}

/** The status reply's workers by id: their roles and learners' progress (check does not carry them). */
function membersOf(s: StatusSnapshot): Map<string, StatusWorker> {
  const ws = (s.status.workers as StatusWorker[] | undefined) ?? [];
  return new Map(ws.filter((w) => typeof w.id === 'string').map((w) => [w.id, w]));
}

/**
 * The line about the voting set: its number, the eviction delay and the least number of voters;
 * null from a coordinator older than configurations, which sends none of them.
 */
function configLine(s: StatusSnapshot): string | null {
  const config = s.status.config as { n?: unknown; voters?: unknown } | undefined;
  const parts: string[] = [];
  if (typeof config?.n === 'number') parts.push(`configuration ${config.n}${Array.isArray(config.voters) ? ` (${config.voters.length} voter${config.voters.length === 1 ? '' : 's'})` : ''}`);
  if (typeof s.status.evict_after_s === 'number') parts.push(`evict after ${s.status.evict_after_s} s`);
  if (typeof s.status.min_voters === 'number') parts.push(`min voters ${s.status.min_voters}`);
  return parts.length === 0 ? null : parts.join('; ');
}

/** Bytes as a person reads them: 1023 B, 1.5 KiB, 12.3 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** What is wrong, in words (empty: healthy). */
export function problemsOf(s: StatusSnapshot): string[] {
  const out: string[] = [];
  const identity = identityOf(s);
  if (identity !== null && identity.state !== 'serving') out.push(`the coordinator is ${identity.state}${identity.reason !== undefined ? ` (${identity.reason})` : ''}`);
  const down = workersOf(s).filter((w) => w.state !== 'up').length;
  if (down > 0) out.push(`${down} worker(s) not up`);
  const inDoubt = inDoubtOf(s);
  const stuck = inDoubt.filter((t) => t.age_ms >= STUCK_AFTER_MS).length;
  if (stuck > 0) out.push(`${stuck} transaction(s) in doubt for ${STUCK_AFTER_MS} ms or more`);
  const differ = differingOf(s);
  if (differ.size > 0) out.push(`the copies of ${[...differ].join(', ')} differ from others that applied the same commits (check's digest): not identical`);
  return out;
}

/** Healthy: the coordinator serves, every worker up, nothing in doubt longer than STUCK_AFTER_MS, and (when nothing is in flight) every copy the same. */
export function exitCodeOf(s: StatusSnapshot): number {
  return problemsOf(s).length === 0 ? STATUS_EXIT.healthy : STATUS_EXIT.unhealthy;
}

interface IdentityView {
  id: string | null;
  epoch: number;
  state: string;
  reason?: string;
  waiting_for?: string[];
}

/** The coordinator's identity (#23): null from an older coordinator, which sends none. */
function identityOf(s: StatusSnapshot): IdentityView | null {
  const i = s.status.identity as IdentityView | undefined;
  return i !== undefined && typeof i.state === 'string' ? i : null;
}

/** The workers whose copy differs from copies that applied the same commits (src/wire/check-copies.ts). */
function differingOf(s: StatusSnapshot): Set<string> {
  const members = membersOf(s);
  return differingCopies(workersOf(s).map((w) => ({ ...w, learner: members.get(w.id)?.role === 'learner' })));
}

function meanMs(total: number | undefined, count: number | undefined): string {
  if (total === undefined || count === undefined) return '-';
  return count === 0 ? '0.00' : (total / count).toFixed(2);
}

function num(v: number | undefined): string {
  return v === undefined ? '-' : String(v);
}

/** Lines of a bordered table, columns as wide as their widest cell. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const rule = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ') + ' |';
  return [rule, line(header), rule, ...rows.map(line), rule];
}

/** The frame `tweetdb status` prints: the configuration, the nodes, who is catching up, what is in doubt, the verdict. */
export function render(s: StatusSnapshot): string {
  const counters = (s.status.counters ?? {}) as Record<string, number | undefined>;
  const last = counters.last_cseq ?? 0;
  const workers = workersOf(s);
  const members = membersOf(s);
  const inDoubt = inDoubtOf(s);
  const differ = differingOf(s);
  const config = configLine(s);
  // A coordinator older than configurations sends no roles: its table stays as it was.
  const withRoles = config !== null || [...members.values()].some((m) => m.role !== undefined);
  const role = (cells: string[], r: string): string[] => (withRoles ? [...cells.slice(0, 4), r, ...cells.slice(4)] : cells);
  const rows: string[][] = [
    role(['coordinator', 'coordinator', 'up', s.coordinator, String(last), '-', '-', String(inDoubt.length), '-', meanMs(counters.log_fsync_ms, counters.log_fsyncs)], '-'),
  ];
  const learners: [string, LearnerProgress][] = [];
  for (const w of workers) {
    const digest = w.digest === undefined ? (w.error !== undefined ? `(${w.error})` : '-') : w.digest.slice(0, 12) + (differ.has(w.id) ? ' (differs)' : '');
    const m = members.get(w.id);
    if (m?.learner !== undefined) learners.push([w.id, m.learner]);
    rows.push(
      role(
        [
          w.id,
          'worker',
          w.state,
          w.address,
          num(w.max_cseq),
          w.max_cseq === undefined ? '-' : String(Math.max(0, last - w.max_cseq)),
          digest,
          num(w.prepared),
          num(w.locks),
          meanMs(w.fsync_ms, w.fsyncs),
        ],
        m?.role ?? '-',
      ),
    );
  }
  const out: string[] = [];
  const identity = identityOf(s);
  if (identity !== null) out.push(`cluster ${identity.id ?? '(none yet)'}; epoch ${identity.epoch}; ${identity.state}${identity.waiting_for !== undefined && identity.waiting_for.length > 0 ? ` (waiting for ${identity.waiting_for.join(', ')})` : ''}`);
  if (typeof s.status.open_mode === 'string') out.push(`open mode: ${escapeForTerminal(s.status.open_mode)}`);
  if (config !== null) out.push(config);
  out.push(...table(role(['NODE', 'ROLE', 'STATE', 'ADDRESS', 'APPLIED', 'LAG', 'DIGEST', 'PREPARED', 'LOCKS', 'FSYNC MS'], 'MEMBER'), rows));
  if (learners.length > 0) {
    // Learners, and a voter just promoted that still applies what was streamed to it.
    out.push('');
    out.push(`catching up: ${learners.length}`);
    out.push(...table(['WORKER', 'PHASE', 'BEHIND', 'ROWS COPIED', 'BYTES COPIED'], learners.map(([id, l]) => [id, l.phase, num(l.behind), num(l.copied_rows), l.copied_bytes === undefined ? '-' : formatBytes(l.copied_bytes)])));
  }
  out.push('');
  if (inDoubt.length === 0) out.push('in doubt: none');
  else {
    out.push(`in doubt: ${inDoubt.length}`);
    out.push(...table(['TXID', 'STATE', 'AGE MS', 'WAITS FOR'], inDoubt.map((t) => [t.txid, t.state, String(t.age_ms), t.waiting_for.join(', ') || '-'])));
  }
  const problems = problemsOf(s);
  out.push(problems.length === 0 ? 'healthy' : `unhealthy: ${problems.join('; ')}`);
  // Worker ids, addresses and errors come from other processes: nothing in them may drive the terminal.
  return escapeForTerminal(out.join('\n'));
}

export interface StatusOptions {
  coordinator: string;
  watch: boolean;
  json: boolean;
  access?: CoordinatorAccess;
  /** Where frames go (standard output). */
  write?: (text: string) => void;
  /** Ends --watch (tests; Ctrl-C otherwise). */
  signal?: AbortSignal;
}

/** Runs `tweetdb status`; resolves to its exit code. */
export async function runStatus(o: StatusOptions): Promise<number> {
  const write = o.write ?? ((t: string): boolean => process.stdout.write(t));
  const access = o.access ?? PLAIN_ACCESS;
  let client: TweetdbClient | null = null;
  const once = async (): Promise<StatusSnapshot> => {
    if (client === null || client.isClosed) client = await TweetdbClient.connect(o.coordinator, CONNECT_TIMEOUT_MS, access.tls, access.token);
    return snapshot(client, o.coordinator);
  };
  const frame = async (): Promise<{ text: string; code: number }> => {
    try {
      const s = await once();
      return { text: o.json ? JSON.stringify(s) : render(s), code: exitCodeOf(s) };
    } catch (e) {
      client?.close();
      client = null;
      const why = `coordinator ${o.coordinator} unreachable: ${(e as Error).message}. Is it running, and are --coordinator, --tls-ca and --client-token-file right?`;
      return { text: o.json ? JSON.stringify({ coordinator: o.coordinator, unreachable: why }) : escapeForTerminal(why), code: STATUS_EXIT.unreachable };
    }
  };
  try {
    if (!o.watch) {
      const f = await frame();
      if (f.code === STATUS_EXIT.unreachable && !o.json) process.stderr.write(f.text + '\n');
      else write(f.text + '\n');
      return f.code;
    }
    let code: number = STATUS_EXIT.unreachable;
    let clear = '\x1b[2J'; // the first frame starts on a clean screen
    while (o.signal?.aborted !== true) {
      const started = Date.now();
      const f = await frame();
      code = f.code;
      // One write per frame, drawn over the last one (home, each line cleared to its end, the rest
      // of the screen cleared): nothing is blanked between frames, so nothing flickers.
      if (o.json) write(f.text + '\n');
      else write(clear + '\x1b[H' + f.text.split('\n').map((l) => l + '\x1b[K').join('\n') + `\n${new Date().toISOString()}  (every ${WATCH_INTERVAL_MS / 1000} s; Ctrl-C stops)\x1b[K\n\x1b[J`);
      clear = '';
      await waitOrAbort(Math.max(0, WATCH_INTERVAL_MS - (Date.now() - started)), o.signal);
    }
    return code;
  } finally {
    (client as TweetdbClient | null)?.close();
  }
}

function waitOrAbort(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
