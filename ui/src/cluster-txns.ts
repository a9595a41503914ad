// The cluster page's timeline of transactions: each a row of bars for its phases (prepare to the
// last vote, to the decision logged, to the last voter applied, to the last ack), on one scale
// shared by the rows shown, so a slow one stands out; a voter much slower than the rest is named.
// Readable when busy: at most ROWS_PER_TICK new rows every TICK_MS; arrivals wait in a queue of
// QUEUE_MAX (the oldest dropped), so nothing drawn is stale; Pause freezes the rows.

import { h } from './dom.js';
import type { TxnLine, TxnTrace } from './cluster-types.js';

/** Rows on screen. */
const MAX_ROWS = 20;
/** New rows drawn per tick, and the tick: at most 4 new rows a second, which a person can follow. */
const ROWS_PER_TICK = 2;
const TICK_MS = 500;
/** Rows waiting to be drawn at most (the newest kept): nothing drawn is more than a second late. */
const QUEUE_MAX = 2 * ROWS_PER_TICK;
/** A voter is "slow" when its last step is this much later than the next slowest's, and at least SLOW_MIN_MS. */
const SLOW_FACTOR = 2;
const SLOW_MIN_MS = 5;

export type Phase = 'votes' | 'decision' | 'applied' | 'acked';
export const PHASES: readonly Phase[] = ['votes', 'decision', 'applied', 'acked'];
const PHASE_WORDS: Record<Phase, string> = { votes: 'votes', decision: 'decision', applied: 'applied', acked: 'acked' };

/** Each phase's end (ms after prepare), or null when the transaction never reached it. */
export function phaseEnds(t: TxnTrace): Record<Phase, number | null> {
  const last = (r: Record<string, number>): number | null => {
    const v = Object.values(r);
    return v.length === 0 ? null : Math.max(...v);
  };
  return { votes: last(t.votes), decision: t.decision, applied: last(t.applied), acked: last(t.acks) };
}

/** The voter whose last step is far behind every other's, if there is one. */
export function slowVoter(t: TxnTrace): string | null {
  if (t.voters.length < 2) return null;
  const lastStep = t.voters.map((v) => ({ v, ms: Math.max(t.votes[v] ?? 0, t.applied[v] ?? 0, t.acks[v] ?? 0) })).sort((a, b) => b.ms - a.ms);
  const [first, second] = lastStep;
  if (first === undefined || second === undefined) return null;
  return first.ms >= SLOW_MIN_MS && first.ms >= SLOW_FACTOR * Math.max(second.ms, 1) ? first.v : null;
}

const ms = (n: number): string => `${n} ms`;

export class TxnTimeline {
  private readonly list: HTMLOListElement;
  private readonly note: HTMLElement;
  private readonly pauseBtn: HTMLButtonElement;
  /** Arrived and not drawn yet, newest last; bounded by QUEUE_MAX (older ones are dropped: too late to matter). */
  private readonly queue: TxnLine[] = [];
  private readonly shown: TxnLine[] = [];
  private paused = false;
  /** Finished transactions the coordinator had in the last second, by the sampling rates (estimate). */
  private arrivedThisSecond = 0;
  private drawnThisSecond = 0;
  private rateText = '';
  private sampling = 1;
  private timer: number | null = null;
  private secondTimer: number | null = null;

  constructor(list: HTMLOListElement, note: HTMLElement, pauseBtn: HTMLButtonElement) {
    this.list = list;
    this.note = note;
    this.pauseBtn = pauseBtn;
    pauseBtn.addEventListener('click', () => this.setPaused(!this.paused));
    this.updateNote();
  }

  start(): void {
    this.timer ??= window.setInterval(() => this.tick(), TICK_MS);
    this.secondTimer ??= window.setInterval(() => {
      this.rateText = this.arrivedThisSecond === 0 ? '' : `${this.arrivedThisSecond} a second received, ${this.drawnThisSecond} drawn`;
      this.arrivedThisSecond = this.drawnThisSecond = 0;
      this.updateNote();
    }, 1000);
  }

  stop(): void {
    if (this.timer !== null) window.clearInterval(this.timer);
    if (this.secondTimer !== null) window.clearInterval(this.secondTimer);
    this.timer = this.secondTimer = null;
  }

  add(line: TxnLine): void {
    this.sampling = line.sampled_1_in;
    this.arrivedThisSecond++;
    if (this.paused) return;
    this.queue.push(line);
    if (this.queue.length > QUEUE_MAX) this.queue.shift();
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.pauseBtn.setAttribute('aria-pressed', String(paused));
    this.pauseBtn.textContent = paused ? 'Resume' : 'Pause';
    if (paused) this.queue.length = 0;
    this.updateNote();
  }

  private updateNote(): void {
    const parts = [this.paused ? 'Paused: new transactions are not shown.' : 'Newest first.'];
    if (this.sampling > 1) parts.push(`The server sends 1 in ${this.sampling} finished transactions.`);
    if (this.rateText !== '') parts.push(`${this.rateText}.`);
    this.note.textContent = parts.join(' ');
  }

  private tick(): void {
    if (this.paused || this.queue.length === 0) return;
    const take = this.queue.splice(0, ROWS_PER_TICK);
    this.drawnThisSecond += take.length;
    for (const l of take) this.shown.unshift(l);
    this.shown.length = Math.min(this.shown.length, MAX_ROWS);
    this.draw();
  }

  private draw(): void {
    const scale = Math.max(1, ...this.shown.map((l) => Math.max(0, ...PHASES.map((p) => phaseEnds(l.trace)[p] ?? 0))));
    this.list.replaceChildren(...this.shown.map((l) => row(l.trace, scale)));
  }
}

function row(t: TxnTrace, scale: number): HTMLLIElement {
  const ends = phaseEnds(t);
  const bar = h('div', { class: 'cl-bar', role: 'img' });
  const words: string[] = [];
  let from = 0;
  for (const p of PHASES) {
    const end = ends[p];
    if (end === null) continue;
    const d = Math.max(0, end - from);
    const seg = h('span', { class: `cl-seg cl-ph-${p}`, 'data-phase': p, title: `${PHASE_WORDS[p]}: ${ms(d)} (at ${ms(end)})` });
    // CSSOM, not a style attribute: the page's CSP allows no inline styles.
    seg.style.width = `${(d / scale) * 100}%`;
    bar.append(seg);
    words.push(`${PHASE_WORDS[p]} +${d}`);
    from = Math.max(from, end);
  }
  bar.setAttribute('aria-label', `${t.txid}: ${words.join(', ')} ms`);
  const slow = slowVoter(t);
  const total = Math.max(0, ...PHASES.map((p) => ends[p] ?? 0));
  const voters = h(
    'ul',
    { class: 'cl-voters' },
    ...t.voters.map((v) =>
      h('li', { 'data-slow': v === slow }, `${v}: vote ${t.votes[v] ?? '-'}, applied ${t.applied[v] ?? '-'}, ack ${t.acks[v] ?? '-'} ms`),
    ),
  );
  return h(
    'li',
    { class: 'cl-txn', 'data-txid': t.txid, 'data-outcome': t.outcome },
    h(
      'div',
      { class: 'cl-txn-head' },
      h('span', { class: 'cl-txn-id' }, t.txid),
      h('span', { class: 'cl-txn-outcome' }, t.outcome === 'abort' ? `abort${t.code !== undefined ? ` (${t.code})` : ''}` : 'commit'),
      h('span', {}, `${t.voters.length} voter${t.voters.length === 1 ? '' : 's'}`),
      slow !== null && h('span', { class: 'cl-slow' }, `slow voter: ${slow}`),
      h('span', { class: 'cl-txn-total' }, ms(total)),
    ),
    bar,
    h('div', { class: 'cl-phases' }, `${words.join(' · ')} ms`),
    voters,
  );
}
