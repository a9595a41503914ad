// Validators for what a worker says of the cluster it belongs to (ClusterKnowledge, in its
// `register`) and of the voting set it last heard of (KnownConfig, in `hello`, `config` and its
// `state`). Shared by the client-request validator (register arrives on the client port) and the
// node-message validator. Each returns null when the value is well formed, else a sentence naming
// the field; nothing here throws, and the work is bounded by the limits below.

import { NODE_MAX_VOTERS } from './limits.ts';

/** A worker's id, a cluster's id and a coordinator run's id: 1 to 64 letters, digits, _ . - */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unknownField(o: Obj, allowed: readonly string[], path: string): string | null {
  for (const k in o) {
    if (!Object.hasOwn(o, k)) continue;
    if (!allowed.includes(k)) return `unknown field "${path}.${k.slice(0, 40)}"; allowed: ${allowed.join(', ')}`;
  }
  return null;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && !Object.is(v, -0);
}

/** A list of worker ids, each once, at most NODE_MAX_VOTERS. */
export function workerIdsProblem(v: unknown, path: string): string | null {
  if (!Array.isArray(v) || v.length > NODE_MAX_VOTERS) return `field "${path}" must be a list of at most ${NODE_MAX_VOTERS} worker ids`;
  const seen = new Set<string>();
  for (let i = 0; i < v.length; i++) {
    const id: unknown = v[i];
    if (typeof id !== 'string' || !NODE_ID_PATTERN.test(id)) return `field "${path}[${i}]" must be a worker id: 1 to 64 letters, digits, _ . -`;
    if (seen.has(id)) return `field "${path}[${i}]" names worker ${id} twice`;
    seen.add(id);
  }
  return null;
}

/** The voting set as a worker heard of it: {n, voters, catching_up}, catching_up among the voters. */
export function knownConfigProblem(v: unknown, path: string): string | null {
  if (!isObj(v)) return `field "${path}" must be an object {n, voters, catching_up}`;
  const extra = unknownField(v, ['n', 'voters', 'catching_up'], path);
  if (extra !== null) return extra;
  if (!isCount(v.n)) return `field "${path}.n" must be a whole number, 0 or more`;
  return catchingUpProblem(v.voters, v.catching_up, `${path}.`);
}

/** `voters` and `catching_up` (a subset of the voters), as hello, config and a known config carry them. */
export function catchingUpProblem(voters: unknown, catchingUp: unknown, prefix: string): string | null {
  const bad = workerIdsProblem(voters, `${prefix}voters`) ?? workerIdsProblem(catchingUp, `${prefix}catching_up`);
  if (bad !== null) return bad;
  const vs = voters as string[];
  for (const id of catchingUp as string[]) if (!vs.includes(id)) return `field "${prefix}catching_up" names ${id}, which is not one of the voters`;
  return null;
}

/** What a registering worker knows of its cluster (ClusterKnowledge). */
export function clusterKnowledgeProblem(v: unknown, path: string): string | null {
  if (!isObj(v)) return `field "${path}" must be an object`;
  const extra = unknownField(v, ['cluster', 'epoch', 'config', 'proposed', 'max_cseq', 'reserved', 'fresh'], path);
  if (extra !== null) return extra;
  if (v.cluster !== null && (typeof v.cluster !== 'string' || !NODE_ID_PATTERN.test(v.cluster))) return `field "${path}.cluster" must be a cluster id (1 to 64 letters, digits, _ . -) or null`;
  for (const k of ['epoch', 'max_cseq', 'reserved'] as const) if (!isCount(v[k])) return `field "${path}.${k}" must be a whole number, 0 or more`;
  if (typeof v.fresh !== 'boolean') return `field "${path}.fresh" must be true or false`;
  return knownConfigProblem(v.config, `${path}.config`) ?? (v.proposed === null ? null : knownConfigProblem(v.proposed, `${path}.proposed`));
}
