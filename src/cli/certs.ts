// `tweetdb certs`: a CA for one cluster and a certificate for each of its nodes, made with the
// openssl binary, for TLS between nodes (mutual) and on the client API (src/node/transport.ts).
// Every node certificate serves both ends of a link (serverAuth and clientAuth) and names the
// hosts and addresses it is reached at; keys are written with mode 0600.

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

/** How long the certificates are valid (825 days: the most that browsers and Apple accept). */
export const CERT_DAYS = 825;

export interface CertsOptions {
  out: string;
  /** One certificate per entry; an entry is the names and addresses of one node, joined by '+'. */
  nodes: string[];
}

export interface MadeCerts {
  ca: string;
  caKey: string;
  nodes: { name: string; cert: string; key: string; altNames: string[] }[];
}

export class CertsError extends Error {
  readonly code = 'CERTS';
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer; message: string };
    if (err.code === 'ENOENT') throw new CertsError('the openssl command is needed (Debian: apt-get install -y openssl)');
    throw new CertsError(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() || err.message}`);
  }
}

/** `10.0.0.2+db2.internal` -> subjectAltName entries for each; a name is checked for sane characters. */
function altNamesOf(entry: string): string[] {
  const parts = entry.split('+').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) throw new CertsError(`an empty node entry in --nodes`);
  return parts.map((p) => {
    if (isIP(p) !== 0) return `IP:${p}`;
    if (!/^[A-Za-z0-9.-]{1,253}$/.test(p)) throw new CertsError(`"${p}" is neither an IP address nor a host name`);
    return `DNS:${p}`;
  });
}

export function makeCerts(o: CertsOptions): MadeCerts {
  if (o.nodes.length === 0) throw new CertsError('name at least one node: --nodes 10.0.0.1,10.0.0.2,10.0.0.3');
  mkdirSync(o.out, { recursive: true });
  const ca = join(o.out, 'ca.pem');
  const caKey = join(o.out, 'ca-key.pem');
  if (existsSync(caKey)) {
    // Reusing the CA lets nodes be added later without re-issuing every certificate.
  } else {
    openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', ca,
      '-days', String(CERT_DAYS), '-subj', '/CN=tweetdb cluster CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    chmodSync(caKey, 0o600);
  }
  const nodes: MadeCerts['nodes'] = [];
  for (const entry of o.nodes) {
    const altNames = altNamesOf(entry);
    const name = (entry.split('+')[0] as string).trim().replace(/[^A-Za-z0-9.-]/g, '_');
    const key = join(o.out, `node-${name}-key.pem`);
    const cert = join(o.out, `node-${name}.pem`);
    const csr = join(o.out, `node-${name}.csr`);
    const ext = join(o.out, `node-${name}.ext`);
    writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${altNames.join(',')}\n`);
    try {
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
      chmodSync(key, 0o600);
      openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', String(CERT_DAYS), '-extfile', ext]);
    } finally {
      rmSync(csr, { force: true });
      rmSync(ext, { force: true });
    }
    nodes.push({ name, cert, key, altNames });
  }
  rmSync(join(o.out, 'ca.srl'), { force: true });
  return { ca, caKey, nodes };
}
