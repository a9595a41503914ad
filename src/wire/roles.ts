// Who may ask for what on the coordinator's client port (README Security, "Roles"). The seed's
// tweet API is open, as the seed has it, so `nc` works; everything that reads or writes the web
// app's private items (accounts, sessions, counters, indexes) or acts on the cluster needs the
// admin token. `register` is for worker processes that proved they hold the cluster key, and a
// connection that did so may do nothing else.

import type { ClientRequest, WriteRequest } from './protocol.ts';

/** `open`: anyone who may connect (with the client token, when the coordinator wants one). */
export type Role = 'open' | 'admin';

/** What each action needs, for the README's table and for the check below. `register`: a node. */
export const ACTION_ROLES: Readonly<Record<ClientRequest['action'], Role | 'node'>> = {
  post: 'open',
  update: 'open',
  delete: 'open',
  get_tweets: 'open',
  get_tweet: 'open',
  begin: 'open',
  commit: 'open',
  abort: 'open',
  // Open when every op in it is: a transaction of items needs the admin token.
  transaction: 'open',
  subscribe: 'open',
  status: 'open',
  check: 'open',
  put_item: 'admin',
  get_item: 'admin',
  delete_item: 'admin',
  incr_item: 'admin',
  trace: 'admin',
  resolve: 'admin',
  remove_worker: 'admin',
  register: 'node',
};

function writeNeeds(w: WriteRequest): Role {
  return ACTION_ROLES[w.action] === 'open' ? 'open' : 'admin';
}

/** The role a validated request needs (`register` is checked before validation: see coordinator-node). */
export function roleNeeded(r: ClientRequest): Role | 'node' {
  if (r.action === 'transaction') return r.ops.every((o) => writeNeeds(o) === 'open') ? 'open' : 'admin';
  return ACTION_ROLES[r.action];
}
