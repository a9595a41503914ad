// Which copies differ from the others, from the `check` reply: what `tweetdb status` marks
// "(differs)" and counts against health, and what the web app's cluster page shows.
//
// A digest says something only against a copy that has applied the same commits. Under load each
// copy applies a commit at its own moment (and commits may land out of order), so two copies are
// compared only when both have nothing prepared (every commit up to their newest is applied) and
// the same newest commit. A learner's copy is incomplete until it votes, so it is never compared.

import type { CheckWorker } from './protocol.ts';

/** A copy as `check` reports it, and whether it is a learner (from `status`). */
export type CopyView = Pick<CheckWorker, 'id' | 'state' | 'digest' | 'prepared' | 'max_cseq'> & { learner?: boolean };

/**
 * The ids of copies that differ from copies at the same position: within a group of comparable
 * copies at one commit number, those whose digest is not the one most of the group holds (on a tie
 * every copy of the group: none can be told right).
 */
export function differingCopies(copies: readonly CopyView[]): Set<string> {
  const groups = new Map<number, CopyView[]>();
  for (const c of copies) {
    if (c.state !== 'up' || c.learner === true || c.digest === undefined || c.prepared !== 0 || c.max_cseq === undefined) continue;
    const g = groups.get(c.max_cseq);
    if (g === undefined) groups.set(c.max_cseq, [c]);
    else g.push(c);
  }
  const out = new Set<string>();
  for (const group of groups.values()) {
    const counts = new Map<string, number>();
    for (const c of group) counts.set(c.digest as string, (counts.get(c.digest as string) ?? 0) + 1);
    if (counts.size < 2) continue;
    const ranked = [...counts].sort((a, b) => b[1] - a[1]);
    const [top, second] = ranked as [[string, number], [string, number]];
    const common = top[1] > second[1] ? top[0] : null;
    for (const c of group) if (c.digest !== common) out.add(c.id);
  }
  return out;
}
