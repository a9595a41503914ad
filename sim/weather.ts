// Simulator weather: each seed draws its own fault rates at the start of its run, so some runs
// are calm (rare faults, a clean network) and some stormy (a fault every few hundred ms, lossy
// links), and each kind of fault is now and then off altogether. Fixed rates explore one corner
// of the space over and over; rates drawn per seed reach branches that need an unusual mix (a
// long silent partition with no crash to clear it, a storm of resets while a copy runs).
// TigerBeetle's VOPR draws its network's and storage's fault probabilities per seed alike.
//
// Drawn from the run's PRNG, first thing: a seed always gets the same weather.

import type { Prng } from './prng.ts';
import { FAIR_NETWORK, type NetworkWeather } from './sim-env.ts';

export interface Weather extends NetworkWeather {
  /** calm, fair or stormy: how often process and link faults come, against the former fixed rates. */
  label: 'calm' | 'fair' | 'stormy';
  /** The next fault comes this many ms after the last, uniform in [min, max] (formerly 300 to 3,000). */
  faultGapMs: { min: number; max: number };
  /**
   * Relative weights of the fault kinds (0: none of that kind in this run): a worker crashes, the
   * coordinator crashes, the network is partitioned, a link between two nodes is reset, a worker
   * loses its disk (it comes back empty, under a new identity, and must copy the data), the
   * operator removes a worker; the coordinator loses its disk (it comes back empty and takes its
   * workers' cluster over), is restored from an old copy of its data directory, or an old copy of
   * it runs beside it for a while (#23). Formerly 0.30, 0.15, 0.25, 0.30 and none of the others.
   */
  kinds: { crashWorker: number; crashCoordinator: number; partition: number; reset: number; wipe: number; remove: number; wipeCoordinator: number; restoreCoordinator: number; staleCoordinator: number };
  /** Of partitions, the share that resets the links crossing them at once; the rest are black holes (formerly half). */
  loudPartitions: number;
  /** A partition heals after up to this many ms (formerly 5,000). */
  partitionMaxMs: number;
  /**
   * The chance that a client ends an interactive transaction by sending commit and hanging up
   * (its connection reset) a few ms later, while the commit may still be being decided (formerly never).
   */
  clientLeaves: number;
}

/** What each draw centres on: the former fixed rates, and for the faults added with weather (wipes, clients leaving) their own. */
const TYPICAL = {
  faultGapMs: { min: 300, max: 3_000 },
  kinds: { crashWorker: 0.3, crashCoordinator: 0.15, partition: 0.25, reset: 0.3, wipe: 0.03, remove: 0.04, wipeCoordinator: 0.02, restoreCoordinator: 0.03, staleCoordinator: 0.04 },
  ...FAIR_NETWORK,
  clientLeaves: 0.1,
};

/** The rates every seed had before weather: to compare what drawn weather reaches against them. */
export const FIXED_WEATHER: Weather = {
  label: 'fair',
  faultGapMs: TYPICAL.faultGapMs,
  kinds: { ...TYPICAL.kinds, wipe: 0, remove: 0, wipeCoordinator: 0, restoreCoordinator: 0, staleCoordinator: 0 },
  loudPartitions: 0.5,
  partitionMaxMs: 5_000,
  clientLeaves: 0,
  ...FAIR_NETWORK,
};

/** The share of runs in which one kind of fault is off altogether. */
const OFF = 0.1;

/** `typical`, scaled by 2^u for u uniform in [lo, hi] (so `typical` is the median when lo = -hi). */
function scaled(rng: Prng, typical: number, lo: number, hi: number): number {
  return typical * 2 ** (lo + rng.next() * (hi - lo));
}

/** A rate around `typical` (a quarter of it to four times it), or, in OFF of the runs, none at all. */
function rate(rng: Prng, typical: number): number {
  return rng.chance(OFF) ? 0 : scaled(rng, typical, -2, 2);
}

export function drawWeather(rng: Prng): Weather {
  // Faults from 4 times as often as before (a storm) to 2.8 times as rarely (calm).
  const gap = scaled(rng, 1, -2, 1.5);
  const kinds = {
    crashWorker: rate(rng, TYPICAL.kinds.crashWorker),
    crashCoordinator: rate(rng, TYPICAL.kinds.crashCoordinator),
    partition: rate(rng, TYPICAL.kinds.partition),
    reset: rate(rng, TYPICAL.kinds.reset),
    wipe: rate(rng, TYPICAL.kinds.wipe),
    remove: rate(rng, TYPICAL.kinds.remove),
    wipeCoordinator: rate(rng, TYPICAL.kinds.wipeCoordinator),
    restoreCoordinator: rate(rng, TYPICAL.kinds.restoreCoordinator),
    staleCoordinator: rate(rng, TYPICAL.kinds.staleCoordinator),
  };
  return {
    label: gap < 0.5 ? 'stormy' : gap > 2 ? 'calm' : 'fair',
    faultGapMs: { min: Math.round(TYPICAL.faultGapMs.min * gap), max: Math.round(TYPICAL.faultGapMs.max * gap) },
    kinds,
    loudPartitions: rng.next(),
    partitionMaxMs: rng.int(1_000, 10_000),
    clientLeaves: rate(rng, TYPICAL.clientLeaves),
    loss: rate(rng, TYPICAL.loss),
    duplicate: rate(rng, TYPICAL.duplicate),
    overtake: rate(rng, TYPICAL.overtake),
    slow: rate(rng, TYPICAL.slow),
  };
}

/** Picks a fault kind by the weather's weights; null when every kind is off. */
export function pickFault(rng: Prng, w: Weather): keyof Weather['kinds'] | null {
  const entries = Object.entries(w.kinds) as [keyof Weather['kinds'], number][];
  const total = entries.reduce((s, [, x]) => s + x, 0);
  if (total <= 0) return null;
  let roll = rng.next() * total;
  for (const [kind, x] of entries) {
    roll -= x;
    if (roll < 0) return kind;
  }
  return entries[entries.length - 1]![0];
}
