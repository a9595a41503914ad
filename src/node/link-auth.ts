// Mutual authentication of a link between two nodes, before any other message:
// each end proves it holds the cluster key by an HMAC over both ends' fresh
// nonces, so a recorded handshake replayed later fails (the other end's nonce
// is new), and neither proof can be reflected back (each names its side and the
// role asked for). Over TLS the proofs also cover the TLS session's exported
// keying material, so a relay between two TLS sessions cannot pass them on.
//
//   initiator -> {"type":"auth_hello","v":1,"role":ROLE,"nonce":NA}
//   responder -> {"type":"auth_challenge","nonce":NB,"proof":HMAC(key, "responder" ROLE NA NB)}
//   initiator -> {"type":"auth_proof","proof":HMAC(key, "initiator" ROLE NA NB)}
//
// The initiator checks the responder's proof before it sends its own or anything
// else; the responder accepts nothing but the proof until it has checked it.
// Without a cluster key (loopback only, src/node/cluster-key.ts) the same
// handshake runs with an empty key: it then proves nothing, which is why that
// mode is refused off loopback.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import { JsonLink, type LinkHandlers } from './json-link.ts';
import { AUTH_TIMEOUT_MS, PEER_MAX_MESSAGE_BYTES } from '../wire/limits.ts';
import type { Conn, Timers } from './env.ts';

/** Who opens a link, and so what it may do once authenticated. */
export type LinkRole = 'coordinator' | 'peer' | 'worker';
const ROLES: readonly LinkRole[] = ['coordinator', 'peer', 'worker'];

export const AUTH_PROTOCOL_VERSION = 1;
export const NONCE_BYTES = 32;
const NONCE_RE = /^[0-9a-f]{64}$/;
const PROOF_RE = /^[0-9a-f]{64}$/;

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}

/** Keying material of the TLS session both ends share (empty without TLS). */
export function channelBinding(socket: Conn): Buffer {
  if (socket instanceof TLSSocket) return socket.exportKeyingMaterial(32, 'EXPORTER-tweetdb-link', Buffer.alloc(0));
  return Buffer.alloc(0);
}

export function linkProof(key: Buffer | null, side: 'initiator' | 'responder', role: LinkRole, initiatorNonce: string, responderNonce: string, binding: Buffer): string {
  return createHmac('sha256', key ?? Buffer.alloc(0))
    .update(`tweetdb-link/${AUTH_PROTOCOL_VERSION}\0${side}\0${role}\0${initiatorNonce}\0${responderNonce}\0`)
    .update(binding)
    .digest('hex');
}

/** Constant-time comparison of two proofs (hex); false for anything malformed. */
export function proofMatches(given: unknown, expected: string): boolean {
  if (typeof given !== 'string' || !PROOF_RE.test(given)) return false;
  return timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(expected, 'hex'));
}

export function isNonce(v: unknown): v is string {
  return typeof v === 'string' && NONCE_RE.test(v);
}

export function isLinkRole(v: unknown): v is LinkRole {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/**
 * Opens a link as the initiator. `ready` is called once the responder has proved it holds the
 * key and our proof is on its way: from then on the link carries the protocol (`handlers`).
 * A failure closes the link and calls `handlers.onClose` with the reason.
 */
export function authenticateOutgoing(
  timers: Timers,
  socket: Conn,
  key: Buffer | null,
  role: LinkRole,
  handlers: LinkHandlers,
  ready: (link: JsonLink) => void,
): JsonLink {
  const nonce = newNonce();
  const timer = timers.setTimeout(() => link.close(`authentication did not finish within ${AUTH_TIMEOUT_MS} ms`), AUTH_TIMEOUT_MS);
  const link: JsonLink = new JsonLink(timers, socket, {
    onMessage: (m) => {
      timers.clearTimeout(timer);
      if (m.type !== 'auth_challenge' || !isNonce(m.nonce)) {
        link.close(`the peer did not answer the authentication handshake (got ${describe(m)})`);
        return;
      }
      const binding = channelBinding(socket);
      if (!proofMatches(m.proof, linkProof(key, 'responder', role, nonce, m.nonce, binding))) {
        link.close('the peer does not hold this cluster\'s key (its proof did not match): check --cluster-key-file on both nodes');
        return;
      }
      link.send({ type: 'auth_proof', proof: linkProof(key, 'initiator', role, nonce, m.nonce, binding) });
      link.handlers = handlers;
      link.raiseLimit(PEER_MAX_MESSAGE_BYTES);
      ready(link);
    },
    // Called only while the handshake runs: afterwards the protocol's handlers hear the close directly.
    onClose: (why) => {
      timers.clearTimeout(timer);
      handlers.onClose(why);
    },
  });
  link.send({ type: 'auth_hello', v: AUTH_PROTOCOL_VERSION, role, nonce });
  return link;
}

/**
 * Accepts a link as the responder: `ready(role)` must return the protocol's handlers for a
 * peer in that role (or null to refuse the role). Nothing but the handshake is read before.
 */
export function authenticateIncoming(
  timers: Timers,
  socket: Conn,
  key: Buffer | null,
  ready: (role: LinkRole, link: JsonLink) => LinkHandlers | null,
  refused: (why: string) => void,
): JsonLink {
  let step: 'hello' | 'proof' = 'hello';
  let role: LinkRole = 'peer';
  let theirs = '';
  const ours = newNonce();
  const timer = timers.setTimeout(() => link.close(`authentication did not finish within ${AUTH_TIMEOUT_MS} ms`), AUTH_TIMEOUT_MS);
  const fail = (why: string): void => {
    timers.clearTimeout(timer);
    link.close(why);
  };
  const link: JsonLink = new JsonLink(timers, socket, {
    onMessage: (m) => {
      if (step === 'hello') {
        if (m.type !== 'auth_hello' || m.v !== AUTH_PROTOCOL_VERSION || !isLinkRole(m.role) || !isNonce(m.nonce)) {
          fail(`the peer did not open with the authentication handshake (got ${describe(m)})`);
          return;
        }
        role = m.role;
        theirs = m.nonce;
        step = 'proof';
        link.send({ type: 'auth_challenge', nonce: ours, proof: linkProof(key, 'responder', role, theirs, ours, channelBinding(socket)) });
        return;
      }
      timers.clearTimeout(timer);
      if (m.type !== 'auth_proof' || !proofMatches(m.proof, linkProof(key, 'initiator', role, theirs, ours, channelBinding(socket)))) {
        fail('the peer does not hold this cluster\'s key (its proof did not match): check --cluster-key-file on both nodes');
        return;
      }
      const h = ready(role, link);
      if (h === null) {
        fail(`a ${role} may not open a link to this node`);
        return;
      }
      link.handlers = h;
      link.raiseLimit(PEER_MAX_MESSAGE_BYTES);
    },
    // Called only while the handshake runs: afterwards the protocol's handlers hear the close.
    onClose: (why) => {
      timers.clearTimeout(timer);
      refused(why);
    },
  });
  return link;
}

function describe(m: Record<string, unknown>): string {
  return typeof m.type === 'string' ? `a "${m.type.slice(0, 40)}" message` : 'a message without a type';
}
