// A worker tells the coordinator where it is, on the coordinator's client port,
// after proving it holds the cluster key (see CoordinatorNode.onNodeHandshake):
//   {"action":"node_hello","role":"worker","nonce":NA,"req":1} -> {"status":"OK","nonce":NB,"proof":...}
//   {"action":"node_proof","proof":...,"req":2}                -> {"status":"OK"}
//   {"action":"register","worker":{"id","address"},"req":3}    -> {"status":"OK"}
// It keeps trying, with backoff, until the coordinator answers OK. Written over
// the Env's network and timers (no Promise), so the simulator runs it too.

import { JsonLink } from './json-link.ts';
import { PEER_MAX_MESSAGE_BYTES } from '../wire/limits.ts';
import { channelBinding, isNonce, linkProof, newNonce, proofMatches } from './link-auth.ts';
import { parseAddress } from '../wire/validate.ts';
import type { Env, Timer } from './env.ts';
import type { TlsConfig } from './transport.ts';
import type { Logger } from './log.ts';
import type { ClusterKnowledge } from '../wire/protocol.ts';

export const REGISTER_MIN_MS = 200;
export const REGISTER_MAX_MS = 5_000;
/** How long the connection to the coordinator may take to open. */
export const REGISTER_CONNECT_TIMEOUT_MS = 2_000;
/** How long each of the three steps may wait for its answer. */
export const REGISTER_STEP_TIMEOUT_MS = 5_000;

export interface RegistrationSpec {
  coordinator: string;
  tls: TlsConfig | null;
  clusterKey: Buffer | null;
  /** This worker's id and the address the coordinator should dial. */
  identity: () => { id: string; address: string };
  /** What it holds of a cluster, said with the registration. */
  known: () => ClusterKnowledge;
}

type Step = 'hello' | 'proof' | 'register';
/** The `req` each step's request carries, echoed by its reply. */
const STEP_REQ: Record<Step, number> = { hello: 1, proof: 2, register: 3 };

export class Registration {
  private timer: Timer | null = null;
  private stepTimer: Timer | null = null;
  private backoff = REGISTER_MIN_MS;
  private link: JsonLink | null = null;
  private running = false;
  private stopped = false;

  constructor(
    private readonly env: Env,
    private readonly spec: RegistrationSpec,
    private readonly log: Logger,
    private readonly onRegistered: () => void,
  ) {}

  /** Starts registering (a no-op while an attempt is under way or waiting to retry). */
  start(): void {
    if (this.stopped || this.running) return;
    this.running = true;
    this.backoff = REGISTER_MIN_MS;
    this.timer = this.env.timers.setTimeout(() => this.attempt(), 0);
  }

  stop(): void {
    this.stopped = true;
    this.env.timers.clearTimeout(this.timer);
    this.env.timers.clearTimeout(this.stepTimer);
    this.link?.close('worker stopping');
    this.link = null;
  }

  private attempt(): void {
    this.timer = null;
    if (this.stopped) return;
    const addr = parseAddress(this.spec.coordinator);
    if (addr === null) {
      this.failed(`the coordinator's address ${this.spec.coordinator} is not host:port`);
      return;
    }
    const timers = this.env.timers;
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      timers.clearTimeout(this.stepTimer);
      this.link?.close('registration failed');
      this.link = null;
      s.destroy();
      this.failed(why);
    };
    const s = this.env.network.dial(addr.host, addr.port, this.spec.tls, () => {
      if (settled) return;
      const ours = newNonce();
      let step: Step = 'hello';
      const send = (next: Step, msg: Record<string, unknown>): void => {
        step = next;
        timers.clearTimeout(this.stepTimer);
        this.stepTimer = timers.setTimeout(() => fail(`no answer to ${next} within ${REGISTER_STEP_TIMEOUT_MS} ms`), REGISTER_STEP_TIMEOUT_MS);
        link.send(msg);
      };
      const link = new JsonLink(
        timers,
        s,
        {
          onMessage: (r) => {
            if (settled) return;
            // Only the reply to the step in hand counts: a repeated one (the network may duplicate
            // a line) taken as the register's OK would leave the worker sure it is registered when
            // it is not, and, dialled by the coordinator under its old identity every 2 s, it would
            // never register again (simulator seed 20995).
            if (r.req !== STEP_REQ[step]) return;
            if (r.status !== 'OK') {
              // Its data belongs to another cluster: said loudly, since retrying cannot fix it (the operator must).
              if (r.code === 'WRONG_CLUSTER') this.log.error({ coordinator: this.spec.coordinator, err: r.error }, 'this worker belongs to another cluster than the coordinator\'s');
              fail(`${String(r.code)}: ${String(r.error)}`);
              return;
            }
            const binding = channelBinding(s);
            if (step === 'hello') {
              if (!isNonce(r.nonce) || !proofMatches(r.proof, linkProof(this.spec.clusterKey, 'responder', 'worker', ours, r.nonce, binding))) {
                fail(`the coordinator at ${this.spec.coordinator} does not hold this cluster's key; check --cluster-key-file on both`);
                return;
              }
              send('proof', { action: 'node_proof', proof: linkProof(this.spec.clusterKey, 'initiator', 'worker', ours, r.nonce, binding), req: STEP_REQ.proof });
            } else if (step === 'proof') {
              send('register', { action: 'register', worker: this.spec.identity(), known: this.spec.known(), req: STEP_REQ.register });
            } else {
              settled = true;
              timers.clearTimeout(this.stepTimer);
              this.link = null;
              link.close('registered');
              this.running = false;
              this.log.info({ coordinator: this.spec.coordinator }, 'registered with the coordinator');
              this.onRegistered();
            }
          },
          onClose: (why) => fail(`the connection to the coordinator closed (${why})`),
        },
        PEER_MAX_MESSAGE_BYTES,
      );
      this.link = link;
      send('hello', { action: 'node_hello', role: 'worker', nonce: ours, req: STEP_REQ.hello });
    });
    s.once('error', () => undefined);
    s.once('close', () => fail('could not connect'));
    this.stepTimer = timers.setTimeout(() => fail(`could not connect within ${REGISTER_CONNECT_TIMEOUT_MS} ms`), REGISTER_CONNECT_TIMEOUT_MS);
  }

  private failed(why: string): void {
    if (this.stopped) return;
    this.log.warn({ coordinator: this.spec.coordinator, err: why }, 'could not register with the coordinator; retrying');
    this.timer = this.env.timers.setTimeout(() => this.attempt(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, REGISTER_MAX_MS);
  }
}
