// Entry point of the cluster page (/cluster, /js/cluster.js): the nodes as cards, what is in
// doubt, and the timeline of transactions, all from one event stream (/api/cluster/events) that
// the web server fills: a snapshot of the nodes every second, each (sampled) finished transaction.
// Signed out, it says so and links to the sign-in page.

import { me } from './api.js';
import { byId, h, show } from './dom.js';
import { isSnapshot, isTraceState, isTxnLine, type ClusterSnapshot, type NodeCard, type TraceState } from './cluster-types.js';
import { TxnTimeline } from './cluster-txns.js';

/** A transaction in doubt this long is marked (as `tweetdb status` counts it against health). */
const STUCK_AFTER_MS = 1_000;
/** No snapshot for this long (they come every second): the page says it is out of date. */
const STALE_AFTER_MS = 3_500;
/** After the stream is refused (not a dropped connection, which EventSource retries), try again in this long. */
const REOPEN_AFTER_MS = 5_000;

const liveEl = byId('cl-live');
const liveText = byId('cl-live-text');
const summaryEl = byId('cl-summary');
const problemEl = byId('cl-problem');
const nodesEl = byId('cl-nodes');
const doubtTable = byId('cl-doubt');
const doubtRows = byId('cl-doubt-rows');
const doubtNone = byId('cl-doubt-none');
const timeline = new TxnTimeline(byId('cl-txns', HTMLOListElement), byId('cl-txn-note'), byId('cl-pause', HTMLButtonElement));

let source: EventSource | null = null;
let lastSnapshotAt = 0;
let trace: TraceState = { following: false, why: 'connecting' };

type LiveState = 'connecting' | 'live' | 'offline';
function setLive(s: LiveState, title: string): void {
  liveEl.dataset.state = s;
  liveText.textContent = s === 'live' ? 'Live' : s === 'offline' ? 'Offline' : 'Connecting…';
  liveEl.title = title;
}

function fact(name: string, value: string, cls?: string): HTMLElement[] {
  return [h('dt', {}, name), h('dd', cls !== undefined ? { class: cls } : {}, value)];
}

const num = (v: number | null): string => (v === null ? '–' : String(v));

/** A learner's progress in one line: its phase, commits behind, what it has copied. */
function catchUp(l: NonNullable<NodeCard['learner']>): string {
  const parts = [l.phase];
  if (l.behind !== undefined) parts.push(`${l.behind} behind`);
  if (l.copied_rows !== undefined) parts.push(`${l.copied_rows} rows copied`);
  if (l.copied_bytes !== undefined) parts.push(`${(l.copied_bytes / 1_048_576).toFixed(1)} MiB`);
  return parts.join(', ');
}

function nodeCard(n: NodeCard): HTMLLIElement {
  const facts = [
    ...fact('address', n.address),
    ...fact(n.role === 'coordinator' ? 'last commit' : 'applied', num(n.applied)),
    ...(n.role === 'worker' ? fact('lag', num(n.lag), n.lag !== null && n.lag > 0 ? 'cl-differs' : undefined) : []),
    ...fact(n.role === 'coordinator' ? 'in doubt' : 'prepared', num(n.prepared)),
    ...(n.role === 'worker' ? fact('locks', num(n.locks)) : []),
    ...fact('fsync', n.fsync_ms === null ? '–' : `${n.fsync_ms.toFixed(2)} ms`),
    ...(n.digest_differs ? fact('copy', 'differs', 'cl-differs') : []),
    ...(n.error !== null ? fact('error', n.error, 'cl-differs') : []),
    ...(n.member !== null && n.member !== undefined ? fact('member', n.member, n.member === 'voter' ? undefined : 'cl-differs') : []),
    ...(n.learner !== null && n.learner !== undefined ? fact('catch-up', catchUp(n.learner)) : []),
  ];
  return h(
    'li',
    { class: 'card cl-node', 'data-node': n.id, 'data-role': n.role, 'data-state': n.state },
    h('div', { class: 'cl-node-head' }, h('span', { class: 'cl-node-id', title: n.id }, n.id), h('span', { class: 'cl-node-role' }, n.role), h('span', { class: 'cl-node-state' }, n.state)),
    h('dl', { class: 'cl-facts' }, ...facts),
  );
}

function age(msAgo: number): string {
  return msAgo < 1000 ? `${msAgo} ms` : msAgo < 60_000 ? `${(msAgo / 1000).toFixed(1)} s` : `${Math.floor(msAgo / 60_000)} min ${Math.floor((msAgo % 60_000) / 1000)} s`;
}

function showSnapshot(s: ClusterSnapshot): void {
  lastSnapshotAt = Date.now();
  nodesEl.replaceChildren(...s.nodes.map(nodeCard));
  const workers = s.nodes.filter((n) => n.role === 'worker');
  const up = workers.filter((n) => n.state === 'up').length;
  summaryEl.textContent = s.reachable
    ? `Coordinator ${s.coordinator}: ${up} of ${workers.length} workers up · ${s.commits_per_s} commits/s · ${s.aborts_per_s} aborts/s`
    : `Coordinator ${s.coordinator} cannot be reached.`;
  problemEl.textContent = s.error ?? '';
  show(problemEl, s.error !== null);
  show(doubtNone, s.in_doubt.length === 0);
  show(doubtTable, s.in_doubt.length > 0);
  doubtRows.replaceChildren(
    ...s.in_doubt.map((t) =>
      h('tr', { 'data-txid': t.txid, 'data-stuck': t.age_ms >= STUCK_AFTER_MS }, h('td', {}, t.txid), h('td', {}, t.state), h('td', {}, age(t.age_ms)), h('td', {}, t.waiting_for.join(', ') || '–')),
    ),
  );
  updateLive();
}

function updateLive(): void {
  if (source === null || source.readyState !== EventSource.OPEN) setLive('offline', 'Not connected to the web server; retrying');
  else if (Date.now() - lastSnapshotAt > STALE_AFTER_MS) setLive('connecting', 'Connected; waiting for the cluster');
  else setLive('live', trace.following ? 'Nodes every second; transactions as they finish' : `Nodes every second; transactions not shown: ${trace.why}`);
}

function parse(e: Event): unknown {
  try {
    return JSON.parse((e as MessageEvent<string>).data) as unknown;
  } catch {
    return null;
  }
}

function open(): void {
  source?.close();
  const s = new EventSource('/api/cluster/events');
  source = s;
  s.addEventListener('open', updateLive);
  s.addEventListener('snapshot', (e) => {
    const v = parse(e);
    if (isSnapshot(v)) showSnapshot(v);
  });
  s.addEventListener('txn', (e) => {
    const v = parse(e);
    if (isTxnLine(v)) timeline.add(v);
  });
  s.addEventListener('trace', (e) => {
    const v = parse(e);
    if (isTraceState(v)) trace = v;
    updateLive();
  });
  s.addEventListener('error', () => {
    updateLive();
    if (s.readyState !== EventSource.CLOSED) return; // EventSource reconnects by itself
    // Refused (signed out, too many pages): find out which, then try again later.
    void me().then(
      (u) => {
        if (u === null) signedOut();
        else window.setTimeout(open, REOPEN_AFTER_MS);
      },
      () => window.setTimeout(open, REOPEN_AFTER_MS),
    );
  });
}

function signedOut(): void {
  source?.close();
  source = null;
  timeline.stop();
  show(byId('cl-body'), false);
  show(byId('cl-signin'), true);
  setLive('offline', 'Signed out');
}

async function boot(): Promise<void> {
  let signedIn = false;
  try {
    signedIn = (await me()) !== null;
  } catch {
    // unreachable now: the stream's own retries take over
    signedIn = true;
  }
  if (!signedIn) {
    signedOut();
    return;
  }
  show(byId('cl-body'), true);
  timeline.start();
  open();
  window.setInterval(updateLive, 1000);
}

void boot();
