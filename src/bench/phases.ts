// The per-phase times of a commit, for the bench: how long after prepare was sent the last vote
// came in, the last voter applied it (its client can be answered), and the last voter acknowledged
// it (durable everywhere). They come from the coordinator's trace feed ({"action":"trace"}),
// followed on a connection of its own only during a short window after each measured window,
// under the same load: while nobody follows the feed the coordinator records no traces, so the
// commits/s measured are not slowed by it. Only the steps `votes`, `applied` and `acks` are read.

import { TweetdbClient, type ApiReply } from '../client/client.ts';
import type { TlsConfig } from '../node/transport.ts';
import { percentile } from './load.ts';

/** The phases reported, each from prepare sent to the last voter's step of that name in the trace. */
export const PHASES = ['votes', 'applied', 'acks'] as const;
export type Phase = (typeof PHASES)[number];

/** What each phase is called in the bench's tables. */
export const PHASE_TEXT: Record<Phase, string> = { votes: 'last vote', applied: 'applied', acks: 'acked' };

/** Traced commits kept per window at most: the feed sends about 200 lines a second, so this is far more than a window gets. */
export const MAX_TRACED = 50_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** The coordinator answers the trace request at once; longer means it cannot. */
const TRACE_REPLY_TIMEOUT_MS = 5_000;

export interface PhasePercentiles {
  p50Ms: number;
  p99Ms: number;
}

/** The phase times of one level, measured while the trace feed was followed. */
export interface PhaseTimes {
  available: true;
  /** Seconds the feed was followed, right after the measured window, under the same load. */
  seconds: number;
  /** Committed transactions whose trace came in during those seconds (the feed samples them). */
  traced: number;
  /** The coarsest sampling the feed said it used: 1 in this many finished transactions was sent. */
  sampled1In: number;
  /** Commits/s while the feed was followed, against the measured window's: the cost of tracing. */
  commitsPerSec: number;
  votes: PhasePercentiles;
  applied: PhasePercentiles;
  acks: PhasePercentiles;
}

/** Why a level has no phase times (the trace feed was refused, or cannot be reached). */
export interface PhaseTimesUnavailable {
  available: false;
  why: string;
}

export type PhaseResult = PhaseTimes | PhaseTimesUnavailable;

/** The trace of a finished transaction, as much of it as is read here. */
interface TraceBody {
  outcome?: unknown;
  voters?: unknown;
  votes?: unknown;
  applied?: unknown;
  acks?: unknown;
}

/** The latest of a step's times over the voters (ms after prepare), or null unless every voter has one. */
function last(step: unknown, voters: readonly string[]): number | null {
  if (typeof step !== 'object' || step === null) return null;
  const times = step as Record<string, unknown>;
  let max: number | null = null;
  for (const w of voters) {
    const v = times[w];
    if (typeof v !== 'number' || !Number.isFinite(v)) return null;
    if (max === null || v > max) max = v;
  }
  return max;
}

/**
 * Collects commits' phase times from trace lines. Aborts are left out, and so is a commit whose
 * trace misses a step of any of its voters (one not reachable, say): "the last voter" would be wrong.
 */
export class PhaseSamples {
  readonly times: Record<Phase, number[]> = { votes: [], applied: [], acks: [] };
  traced = 0;
  sampled1In = 1;

  add(line: ApiReply): void {
    if (line.event !== 'txn.finished' || this.traced >= MAX_TRACED) return;
    const t = line.trace as TraceBody | undefined;
    if (t === undefined || t.outcome !== 'commit' || !Array.isArray(t.voters) || t.voters.length === 0) return;
    const voters = t.voters.filter((w): w is string => typeof w === 'string');
    const each = PHASES.map((p) => last(t[p], voters));
    if (each.some((x) => x === null)) return;
    this.traced++;
    PHASES.forEach((p, i) => this.times[p].push(each[i] as number));
    if (typeof line.sampled_1_in === 'number' && line.sampled_1_in > this.sampled1In) this.sampled1In = line.sampled_1_in;
  }

  summary(seconds: number, commitsPerSec: number): PhaseTimes {
    const of = (p: Phase): PhasePercentiles => {
      const sorted = Float64Array.from(this.times[p]).sort();
      return { p50Ms: round2(percentile(sorted, 0.5)), p99Ms: round2(percentile(sorted, 0.99)) };
    };
    return { available: true, seconds, traced: this.traced, sampled1In: this.sampled1In, commitsPerSec, votes: of('votes'), applied: of('applied'), acks: of('acks') };
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** A connection following the trace feed; `stop` ends it and gives what came in. */
export class PhaseFollower {
  private readonly samples = new PhaseSamples();
  private lost: string | null = null;
  private constructor(private readonly client: TweetdbClient) {
    client.onEvent = (msg) => this.samples.add(msg);
    client.onClose = (why) => {
      this.lost ??= why.message;
    };
  }

  /** Opens the feed; a refusal or an unreachable coordinator is the reason phase times are not available. */
  /** `adminToken`: the trace feed needs it; without one the coordinator refuses it, and that is the reason given. */
  static async follow(address: string, tls: TlsConfig | null, adminToken: string | null): Promise<PhaseFollower | PhaseTimesUnavailable> {
    let client: TweetdbClient;
    try {
      client = await TweetdbClient.connect(address, CONNECT_TIMEOUT_MS, tls, adminToken);
    } catch (e) {
      return { available: false, why: `the trace feed could not be reached: ${(e as Error).message}` };
    }
    try {
      const r = await client.request({ action: 'trace' }, TRACE_REPLY_TIMEOUT_MS);
      if (r.status !== 'OK') {
        client.close();
        return { available: false, why: `the coordinator refused the trace feed: ${r.code ?? r.status}${r.error !== undefined ? ` (${r.error})` : ''}` };
      }
    } catch (e) {
      client.close();
      return { available: false, why: `the trace feed did not answer: ${(e as Error).message}` };
    }
    return new PhaseFollower(client);
  }

  /** Stops following; the feed must have stayed open throughout, or the window is not reported. */
  stop(seconds: number, commitsPerSec: number): PhaseResult {
    const lost = this.lost;
    this.client.close();
    if (lost !== null) return { available: false, why: `the trace feed closed during the window: ${lost}` };
    // A workload that writes nothing (read) has no commit to time.
    if (this.samples.traced === 0) return { available: false, why: `no commit finished in the ${seconds} s the trace feed was followed` };
    return this.samples.summary(seconds, commitsPerSec);
  }
}
