// The benchmark's outputs: a table for the terminal, and JSON, Markdown and an
// SVG chart (throughput and p99 against concurrency) under bench/results/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LevelResult } from './load.ts';
import type { Machine } from './machine.ts';
import type { NodeMemory, SecurityMode } from './cluster.ts';
import type { PgPostResult } from './postgres.ts';
import { PHASES, PHASE_TEXT, type PhaseResult } from './phases.ts';

export interface TweetdbRow extends LevelResult {
  system: 'tweetdb';
  workers: number;
  /** fsyncs per commit: the coordinator's log, then each worker. */
  fsyncsPerCommit: { coordinator: number; workers: number[] } | null;
  /** Mean duration of one fsync during the level, in ms: the coordinator's log, then each worker. */
  fsyncMeanMs: { coordinator: number; workers: number[] } | null;
  memory: NodeMemory[];
  /** How the fresh cluster's links were secured; absent for a running cluster (and in results made before it was recorded). */
  security?: SecurityMode;
  /** Whether the fresh cluster's nodes exported Prometheus metrics (and the coordinator traced); absent for a running cluster and in older results. */
  metrics?: boolean;
  /** Under `--compare`: the label of the cluster this row was measured on (`open`, `key`, `key+tls`; `off`, `on`), or of its clients (`persistent`, `per-request`). */
  variant?: string;
  /** The machine's 1-minute load average as the level ended (everything else running on it shows here); absent in older results. */
  loadAvg1?: number;
  /**
   * CPU time per commit over the measured window, in ms: every node of the cluster together,
   * and the bench's own clients (less disturbed by other load on the machine than commits/s).
   */
  cpuMsPerCommit?: { nodes: number; client: number } | null;
  /**
   * The per-phase times of a commit, from the trace feed followed right after the measured window
   * (or why there are none); absent when not collected (--phase-seconds 0) and in older results.
   */
  phases?: PhaseResult;
}

export type PostgresRow = PgPostResult;

export interface BenchReport {
  when: string;
  machine: Machine;
  workload: string;
  workers: number;
  preload: number;
  target: 'fresh cluster' | string;
  rows: TweetdbRow[];
  postgres: PostgresRow[];
  /** What `--compare` varied between fresh clusters, if anything; absent in older results. */
  compare?: VariedBy;
  /** Under `--compare security` or `metrics`: each cluster's figures against the first one's at the same clients. */
  costs?: VariantCost[];
}

/** What a run's fresh clusters differ in, one after another; or, for `connect`, how the clients of one cluster connect. */
export type VariedBy = 'security' | 'metrics' | 'connect';

const fmt = (n: number): string => (Number.isFinite(n) ? n.toLocaleString('en-US') : '-');
const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '-');

function abortsText(a: Record<string, number>): string {
  const parts = Object.entries(a).map(([k, v]) => `${k} ${fmt(v)}`);
  return parts.length === 0 ? '0' : parts.join(', ');
}

/** The cluster a row was measured on, under `--compare` (security alone in results made before `variant` was recorded). */
function variantOf(row: TweetdbRow): string | undefined {
  return row.variant ?? row.security;
}

/** The labels of the clusters compared, in the order they ran; empty unless the rows come from more than one. */
function variants(r: BenchReport): string[] {
  const labels = [...new Set(r.rows.map(variantOf))].filter((v): v is string => v !== undefined);
  return labels.length > 1 ? labels : [];
}

/** A variant's name where the label alone would not say what it is (`on` is `metrics on`). */
function variantName(r: BenchReport, label: string): string {
  return r.compare === 'metrics' ? `metrics ${label}` : label;
}

/** The Markdown table (also printed to the terminal). */
export function markdownTable(r: BenchReport): string {
  const compared = variants(r).length > 0;
  const lines = [
    '| system | clients | commits/s | reads/s | aborts | p50 ms | p99 ms | p999 ms | fsyncs/commit (log; workers) | mean fsync ms (log; workers) | peak RSS MiB (coordinator; workers) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of r.rows) {
    const f = row.fsyncsPerCommit === null ? '-' : `${row.fsyncsPerCommit.coordinator.toFixed(3)}; ${row.fsyncsPerCommit.workers.map((w) => w.toFixed(3)).join(', ')}`;
    const fm = row.fsyncMeanMs === null ? '-' : `${ms(row.fsyncMeanMs.coordinator)}; ${row.fsyncMeanMs.workers.map(ms).join(', ')}`;
    const mem = row.memory.length === 0 ? '-' : row.memory.map((m) => m.peakRssMiB.toFixed(0)).join('; ');
    lines.push(`| tweetdb (${row.workers} workers${compared && variantOf(row) !== undefined ? `, ${variantName(r, variantOf(row) as string)}` : ''}) | ${row.concurrency} | ${fmt(row.commitsPerSec)} | ${fmt(row.readsPerSec)} | ${abortsText(row.aborts)} | ${ms(row.p50Ms)} | ${ms(row.p99Ms)} | ${ms(row.p999Ms)} | ${f} | ${fm} | ${mem} |`);
  }
  for (const p of r.postgres) {
    lines.push(`| PostgreSQL 2PC (2 clusters) | ${p.concurrency} | ${fmt(p.commitsPerSec)} | - | ${p.errors === 0 ? '0' : `errors ${fmt(p.errors)}`} | ${ms(p.p50Ms)} | ${ms(p.p99Ms)} | ${ms(p.p999Ms)} | - | - | - |`);
  }
  return lines.join('\n');
}

/**
 * The per-phase times of each level's commits (from prepare sent, as the coordinator's trace feed
 * gives them), with how many were traced and the commits/s while they were; rows without phase
 * times (not collected) are left out.
 */
export function phaseTable(r: BenchReport): string {
  const compared = variants(r).length > 0;
  const lines = [
    `| ${r.workload}, ${r.workers} workers, from prepare sent | clients | ${PHASES.map((p) => `${PHASE_TEXT[p]} p50 ms | ${PHASE_TEXT[p]} p99 ms`).join(' | ')} | commits traced | 1 in | commits/s traced | commits/s measured |`,
    `|---|---|${PHASES.map(() => '---|---|').join('')}---|---|---|---|`,
  ];
  for (const row of r.rows) {
    const p = row.phases;
    if (p === undefined) continue;
    const name = compared && variantOf(row) !== undefined ? variantName(r, variantOf(row) as string) : 'tweetdb';
    if (!p.available) {
      lines.push(`| ${name} | ${row.concurrency} | phase times not available: ${p.why.replace(/\|/g, '\\|')} |${' - |'.repeat(PHASES.length * 2 + 2)} ${fmt(row.commitsPerSec)} |`);
      continue;
    }
    lines.push(`| ${name} | ${row.concurrency} | ${PHASES.map((ph) => `${ms(p[ph].p50Ms)} | ${ms(p[ph].p99Ms)}`).join(' | ')} | ${fmt(p.traced)} | ${fmt(p.sampled1In)} | ${fmt(p.commitsPerSec)} | ${fmt(row.commitsPerSec)} |`);
  }
  return lines.join('\n');
}

/** tweetdb's commits/s over PostgreSQL's at each concurrency both ran. */
export function ratios(r: BenchReport): { concurrency: number; ratio: number }[] {
  return r.rows.flatMap((row) => {
    const p = r.postgres.find((x) => x.concurrency === row.concurrency);
    return p === undefined || p.commitsPerSec === 0 ? [] : [{ concurrency: row.concurrency, ratio: Math.round((row.commitsPerSec / p.commitsPerSec) * 10) / 10 }];
  });
}

export interface VariantCost {
  /** The cluster's label (`open`, `key`, `key+tls`; `off`, `on`). */
  variant: string;
  concurrency: number;
  commitsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  loadAvg1: number;
  cpuMsPerCommit: { nodes: number; client: number } | null;
  /** The first cluster compared (`open`, `off`), the baseline of `vsBaseline`. */
  baseline: string;
  /** This cluster's figure over the baseline's at the same concurrency (null: the baseline was not measured there). */
  vsBaseline: { commitsPerSec: number; p50Ms: number; p99Ms: number; nodesCpuMsPerCommit: number } | null;
}

/** Each compared cluster's figures at each concurrency, against the first one's (`open`, `off`); empty unless clusters were compared. */
export function variantCosts(r: BenchReport): VariantCost[] {
  const ratio = (a: number, b: number): number => (b > 0 && Number.isFinite(a) && Number.isFinite(b) ? Math.round((a / b) * 100) / 100 : NaN);
  const baseline = variants(r)[0];
  if (baseline === undefined) return [];
  return r.rows.flatMap((row) => {
    const variant = variantOf(row);
    if (variant === undefined) return [];
    const base = r.rows.find((x) => variantOf(x) === baseline && x.concurrency === row.concurrency);
    return [
      {
        variant,
        concurrency: row.concurrency,
        commitsPerSec: row.commitsPerSec,
        p50Ms: row.p50Ms,
        p99Ms: row.p99Ms,
        loadAvg1: row.loadAvg1 ?? NaN,
        cpuMsPerCommit: row.cpuMsPerCommit ?? null,
        baseline,
        vsBaseline:
          base === undefined
            ? null
            : {
                commitsPerSec: ratio(row.commitsPerSec, base.commitsPerSec),
                p50Ms: ratio(row.p50Ms, base.p50Ms),
                p99Ms: ratio(row.p99Ms, base.p99Ms),
                nodesCpuMsPerCommit: ratio(row.cpuMsPerCommit?.nodes ?? NaN, base.cpuMsPerCommit?.nodes ?? NaN),
              },
      },
    ];
  });
}

/** The cost of each compared cluster against the first (`--compare security`, `--compare metrics`), as a Markdown table ordered by clients, then cluster. */
export function variantTable(r: BenchReport): string {
  const x = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '-' : `${n.toFixed(2)}x`);
  const costs = variantCosts(r).sort((a, b) => a.concurrency - b.concurrency);
  const vs = `vs ${costs[0]?.baseline ?? '-'}`;
  const what = r.compare === 'metrics' ? ', metrics' : r.compare === 'connect' ? ', connections' : '';
  const lines = [
    `| ${r.workload}, ${r.workers} workers${what} | clients | commits/s | ${vs} | p50 ms | ${vs} | p99 ms | ${vs} | CPU ms/commit, nodes | ${vs} | CPU ms/commit, bench clients | load avg (1 min) |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of costs) {
    lines.push(`| ${c.variant} | ${c.concurrency} | ${fmt(c.commitsPerSec)} | ${x(c.vsBaseline?.commitsPerSec)} | ${ms(c.p50Ms)} | ${x(c.vsBaseline?.p50Ms)} | ${ms(c.p99Ms)} | ${x(c.vsBaseline?.p99Ms)} | ${ms(c.cpuMsPerCommit?.nodes ?? NaN)} | ${x(c.vsBaseline?.nodesCpuMsPerCommit)} | ${ms(c.cpuMsPerCommit?.client ?? NaN)} | ${ms(c.loadAvg1)} |`);
  }
  return lines.join('\n');
}

const SECURITY_TEXT: Record<SecurityMode, string> = {
  open: 'no cluster key (links run the handshake with an empty key, as loopback allows)',
  key: 'links authenticated with a cluster key',
  'key+tls': 'a cluster key, and TLS 1.3 on every link (mutual between nodes) and on every client connection',
};

const CONNECT_TEXT: Record<string, string> = {
  persistent: 'persistent clients, one connection each',
  'per-request': 'one connection per request (connect, send one line, read the reply, close)',
};

const METRICS_TEXT: Record<string, string> = {
  off: 'no --metrics-port anywhere, as the nodes run by default',
  on: '--metrics-port on the coordinator and on every worker: Prometheus metrics on each node, and the coordinator\'s trace effects',
};

/** Why the compared clusters differ, and how to read their costs (the sentence above the cost table). */
const COMPARE_TEXT: Record<VariedBy, string> = {
  security: 'The cost of authentication and of TLS, each against `open`',
  metrics: 'The cost of Prometheus metrics and tracing, `on` against `off`',
  connect: 'One connection per request against persistent clients',
};

function clusterText(r: BenchReport): string {
  if (r.target !== 'fresh cluster') return `The running cluster at ${r.target}`;
  const labels = variants(r);
  if (labels.length > 0 && r.compare === 'connect') {
    const mode = r.rows[0]?.security;
    return `A fresh durable cluster of ${r.workers} workers${mode !== undefined ? `, ${SECURITY_TEXT[mode]},` : ''} at each number of clients under ${labels.map((v) => `\`${v}\`: ${CONNECT_TEXT[v] ?? v}`).join(', then ')}`;
  }
  if (labels.length > 0) {
    const text = (v: string): string => (r.compare === 'metrics' ? (METRICS_TEXT[v] ?? v) : (SECURITY_TEXT[v as SecurityMode] ?? v));
    const security = r.compare === 'metrics' && r.rows[0]?.security !== undefined ? `, ${SECURITY_TEXT[r.rows[0].security]},` : ',';
    return `${labels.length === 2 ? 'Two' : 'Three'} fresh durable clusters of ${r.workers} workers${security} one after another (${labels.map((v) => `\`${v}\`: ${text(v)}`).join('; ')})`;
  }
  const mode = r.rows[0]?.security;
  return `A fresh durable cluster of ${r.workers} workers${mode !== undefined ? `, ${SECURITY_TEXT[mode]}` : ''}`;
}

function machineText(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; the disk does ${fmt(m.fsyncsPerSec)} fsyncs/s one at a time`;
}

/** How the phase times were measured (the sentence above their table). */
const PHASE_INTRO =
  'The phases of a commit, from the coordinator\'s trace feed, followed right after each measured window while the same load went on (no trace is recorded while nobody follows the feed, so the measured window does not pay for it): milliseconds from prepare sent to the last vote, to the last voter\'s applying it (the client can be answered) and to the last voter\'s acknowledgement (durable everywhere). The feed samples about 200 commits a second (1 in N); the last two columns compare commits/s while traced with the measured window\'s.';

export function markdownReport(r: BenchReport, chartFile: string): string {
  const rs = ratios(r);
  return [
    `# tweetdb bench: ${r.workload}`,
    '',
    `${r.when}. ${clusterText(r)}${r.preload > 0 ? `, ${fmt(r.preload)} tweets preloaded` : ''}; everything on one machine: ${machineText(r.machine)}.`,
    '',
    ...(variants(r).length > 0 ? [`${COMPARE_TEXT[r.compare ?? 'security']} at the same number of clients (CPU ms per commit: user and system time of every node together, and of the bench's own clients, over the measured window; the last column: the machine's load average as the level ended, from everything running on it; on a machine shared with other work, commits/s and latency move with that work, CPU per commit less so: compare several runs before reading a difference):`, '', variantTable(r), ''] : []),
    markdownTable(r),
    '',
    ...(r.rows.some((row) => row.phases !== undefined) ? [PHASE_INTRO, '', phaseTable(r), ''] : []),
    ...(rs.length > 0 ? [`tweetdb / PostgreSQL 2PC, commits/s: ${rs.map((x) => `${x.ratio}x at ${x.concurrency} clients`).join(', ')}.`, ''] : []),
    `![throughput and p99 against concurrency](${chartFile})`,
    '',
  ].join('\n');
}

/** An SVG line chart: throughput (left axis) and p99 (right axis) against concurrency (log scale). */
export function svgChart(r: BenchReport): string {
  const W = 720;
  const H = 400;
  const m = { l: 70, r: 70, t: 40, b: 60 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const tput = (row: { commitsPerSec: number; readsPerSec?: number }): number => Math.max(row.commitsPerSec, row.readsPerSec ?? 0);
  const modes = variants(r).length > 0 ? variants(r) : [undefined];
  const colors = ['#5b5bd6', '#059669', '#dc2626'];
  const series = [
    ...modes.map((mode, i) => ({
      name: mode === undefined ? 'tweetdb' : `tweetdb, ${variantName(r, mode)}`,
      color: colors[i % colors.length] as string,
      points: r.rows.filter((x) => mode === undefined || variantOf(x) === mode).map((x) => ({ c: x.concurrency, t: tput(x), p99: x.p99Ms })),
    })),
    ...(r.postgres.length > 0 ? [{ name: 'PostgreSQL 2PC', color: '#d97706', points: r.postgres.map((x) => ({ c: x.concurrency, t: x.commitsPerSec, p99: x.p99Ms })) }] : []),
  ];
  const all = series.flatMap((s) => s.points);
  const cs = [...new Set(all.map((p) => p.c))].sort((a, b) => a - b);
  const maxT = niceMax(Math.max(1, ...all.map((p) => p.t)));
  const maxP = niceMax(Math.max(1, ...all.map((p) => p.p99).filter(Number.isFinite)));
  const lo = Math.log(Math.max(1, cs[0] ?? 1));
  const hi = Math.log(Math.max(2, cs[cs.length - 1] ?? 2));
  const x = (c: number): number => m.l + (hi === lo ? pw / 2 : ((Math.log(Math.max(1, c)) - lo) / (hi - lo)) * pw);
  const yT = (v: number): number => m.t + ph - (v / maxT) * ph;
  const yP = (v: number): number => m.t + ph - (v / maxP) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${escapeXml(`${r.workload}: throughput (solid) and p99 latency (dashed) against concurrency`)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = m.t + (ph * i) / 4;
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y}" y2="${y}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${m.l - 8}" y="${y + 4}" text-anchor="end" fill="#374151">${fmt(Math.round(maxT * (1 - i / 4)))}</text>`);
    out.push(`<text x="${m.l + pw + 8}" y="${y + 4}" fill="#374151">${(maxP * (1 - i / 4)).toFixed(maxP < 10 ? 1 : 0)}</text>`);
  }
  for (const c of cs) out.push(`<text x="${x(c)}" y="${m.t + ph + 18}" text-anchor="middle" fill="#374151">${c}</text>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 18}" text-anchor="middle" fill="#111827">concurrent clients (log scale)</text>`);
  out.push(`<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" fill="#111827">per second</text>`);
  out.push(`<text transform="translate(${W - 14} ${m.t + ph / 2}) rotate(90)" text-anchor="middle" fill="#111827">p99 ms</text>`);
  series.forEach((s, si) => {
    const pts = [...s.points].sort((a, b) => a.c - b.c);
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2.5" points="${pts.map((p) => `${x(p.c)},${yT(p.t)}`).join(' ')}"/>`);
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" stroke-dasharray="6 4" points="${pts.filter((p) => Number.isFinite(p.p99)).map((p) => `${x(p.c)},${yP(p.p99)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${x(p.c)}" cy="${yT(p.t)}" r="3.5" fill="${s.color}"/>`);
    out.push(`<rect x="${m.l + 10 + si * 160}" y="${m.t + 6}" width="14" height="4" fill="${s.color}"/><text x="${m.l + 30 + si * 160}" y="${m.t + 12}" fill="#111827">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const k of [1, 2, 2.5, 5, 10]) if (v <= k * p) return k * p;
  return 10 * p;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Writes NAME.json, NAME.md and NAME.svg under `dir`; returns their paths. */
export function writeReport(dir: string, name: string, r: BenchReport): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, `${name}.json`), join(dir, `${name}.md`), join(dir, `${name}.svg`)];
  writeFileSync(files[0] as string, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(files[1] as string, markdownReport(r, `${name}.svg`));
  writeFileSync(files[2] as string, svgChart(r) + '\n');
  return files;
}
