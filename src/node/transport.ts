// How nodes and clients reach each other: plain TCP, or TLS when the node is given
// --tls-cert, --tls-key and --tls-ca. Between nodes TLS is mutual (each end shows a
// certificate the cluster's CA signed, and checks the other's); a client of the API
// checks the coordinator's certificate against the CA and needs none of its own.

import { createServer as createTcpServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Conn } from './env.ts';

export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
}

/** PEM contents: this node's certificate chain and key, and the CA every peer's certificate must chain to. */
export interface TlsConfig {
  cert: Buffer | null;
  key: Buffer | null;
  ca: Buffer;
}

export class TlsSetupError extends Error {
  readonly code = 'TLS_SETUP';
}

/**
 * Reads the files named by the flags. A node needs all three; a client of the API needs the CA
 * (and may show a certificate too). None given: plain TCP (null).
 */
export function loadTls(files: TlsFiles, role: 'node' | 'client'): TlsConfig | null {
  const given = [files.cert, files.key, files.ca].filter((f) => f !== undefined && f !== '');
  if (given.length === 0) return null;
  if (role === 'node' && given.length !== 3) {
    throw new TlsSetupError('a node needs all three of --tls-cert, --tls-key and --tls-ca (make them with `tweetdb certs`), or none of them');
  }
  if (files.ca === undefined || files.ca === '') throw new TlsSetupError('--tls-ca is needed to check the coordinator\'s certificate');
  if ((files.cert === undefined || files.cert === '') !== (files.key === undefined || files.key === '')) {
    throw new TlsSetupError('--tls-cert and --tls-key go together');
  }
  const read = (path: string | undefined, what: string): Buffer | null => {
    if (path === undefined || path === '') return null;
    try {
      return readFileSync(path);
    } catch (e) {
      throw new TlsSetupError(`cannot read the TLS ${what} ${path}: ${(e as Error).message}`);
    }
  };
  return { cert: read(files.cert, 'certificate'), key: read(files.key, 'key'), ca: read(files.ca, 'CA certificate') as Buffer };
}

/**
 * A server for this node. `mutual`: only peers with a certificate from the cluster's CA get
 * through the TLS handshake (a worker's port); otherwise a certificate is asked for but not
 * required (the coordinator's port, where API clients connect too).
 */
export function createNodeServer(tls: TlsConfig | null, mutual: boolean, opts: { allowHalfOpen?: boolean }, onSocket: (s: Socket) => void): Server {
  if (tls === null) return createTcpServer({ allowHalfOpen: opts.allowHalfOpen ?? false }, onSocket);
  const server = createTlsServer(
    {
      cert: tls.cert ?? undefined,
      key: tls.key ?? undefined,
      ca: tls.ca,
      requestCert: true,
      rejectUnauthorized: mutual,
      allowHalfOpen: opts.allowHalfOpen ?? false,
      minVersion: 'TLSv1.3',
      // A TLS handshake that never finishes must not hold a socket for ever.
      handshakeTimeout: 5_000,
    },
    onSocket,
  );
  // A failed TLS handshake (no certificate, the wrong CA, garbage) is the client's problem, not ours.
  server.on('tlsClientError', () => undefined);
  return server;
}

/** True when the socket is TLS and the peer showed a certificate the CA signed. */
export function peerVerified(s: Conn): boolean {
  return (s as unknown as Partial<TLSSocket>).authorized === true;
}

/**
 * Connects to HOST:PORT, over TLS when configured (checking the peer's certificate against
 * the CA and its name or address). `ready` is called once the socket may carry data.
 */
export function dial(host: string, port: number, tls: TlsConfig | null, ready: (s: Socket) => void): Socket {
  if (tls === null) {
    const s = tcpConnect({ host, port });
    s.once('connect', () => ready(s));
    return s;
  }
  const s = tlsConnect({
    host,
    port,
    ca: tls.ca,
    cert: tls.cert ?? undefined,
    key: tls.key ?? undefined,
    minVersion: 'TLSv1.3',
    // SNI takes names only; an address is checked against the certificate's IP entries.
    servername: isIP(host) === 0 ? host : undefined,
  });
  s.once('secureConnect', () => ready(s));
  return s;
}
