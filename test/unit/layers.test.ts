// The layers of eslint.config.js hold: lint fails on an import across a forbidden layer, on a
// clock or a timer in the core, on an import from test/ outside test/, and passes what is allowed.
// Code is linted as if it were a file at the given path (the file need not exist).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const eslint = new ESLint({ cwd: ROOT });

async function lint(filePath: string, code: string): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(code, { filePath });
  assert.ok(result !== undefined, `no lint result for ${filePath}`);
  return result.messages;
}

/** The messages of `rule` for `code` at `filePath`: there must be some. */
async function failsWith(filePath: string, code: string, rule: string): Promise<Linter.LintMessage[]> {
  const messages = await lint(filePath, code);
  const hits = messages.filter((m) => m.ruleId === rule);
  assert.ok(hits.length > 0, `expected ${rule} on ${filePath}, got: ${JSON.stringify(messages.map((m) => `${m.ruleId}: ${m.message}`))}`);
  return hits;
}

async function passes(filePath: string, code: string): Promise<void> {
  const messages = await lint(filePath, code);
  assert.deepEqual(messages.map((m) => `${m.ruleId}: ${m.message}`), [], `expected ${filePath} to lint clean`);
}

test('a core file importing the runtime shell (src/node) fails lint with the layer rule', async () => {
  const [hit] = await failsWith('src/core/probe.ts', "import { makeLogger } from '../node/log.ts';\nexport const log = makeLogger;\n", 'no-restricted-imports');
  assert.match(hit?.message ?? '', /src\/core may not import this/);
  await failsWith('src/core/probe.ts', "export { TweetdbClient } from '../client/client.ts';\n", 'no-restricted-imports');
  await failsWith('src/core/probe.ts', "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n", 'no-restricted-imports');
});

test('a core file may import the core and the protocol (src/wire), and format a given time', async () => {
  await passes('src/core/probe.ts', [
    "import type { Tweet } from './types.ts';",
    "import type { Request } from '../wire/protocol.ts';",
    "import { isDeepStrictEqual } from 'node:util';",
    'export type Both = [Tweet, Request];',
    'export const same = isDeepStrictEqual;',
    'export const iso = (ms: number): string => new Date(ms).toISOString();',
    '',
  ].join('\n'));
});

test('a core file reading the clock or setting a timer fails lint', async () => {
  await failsWith('src/core/probe.ts', 'export const at = (): number => Date.now();\n', 'no-restricted-properties');
  await failsWith('src/core/probe.ts', 'export const at = (): Date => new Date();\n', 'no-restricted-syntax');
  await failsWith('src/core/probe.ts', 'export const later = (f: () => void): void => void setTimeout(f, 10);\n', 'no-restricted-globals');
  await failsWith('src/core/probe.ts', 'export const tick = (f: () => void): void => void setInterval(f, 10);\n', 'no-restricted-globals');
  await failsWith('src/core/probe.ts', 'export const pid = (): number => process.pid;\n', 'no-restricted-globals');
  await failsWith('src/core/probe.ts', 'export const roll = (): number => Math.random();\n', 'no-restricted-properties');
  await failsWith('src/core/probe.ts', "export const load = (): Promise<unknown> => import('./types.ts');\n", 'no-restricted-syntax');
});

test('a web file importing the runtime shell (src/node) fails lint; the protocol and the TCP client pass', async () => {
  await failsWith('src/web/probe.ts', "import { dial } from '../node/transport.ts';\nexport const d = dial;\n", 'no-restricted-imports');
  await failsWith('src/web/probe.ts', "import { CoordinatorCore } from '../core/coordinator.ts';\nexport const c = CoordinatorCore;\n", 'no-restricted-imports');
  await passes('src/web/probe.ts', [
    "import type { CoordinatorPool } from '../client/pool.ts';",
    "import { JsonStreamSplitter } from '../wire/framing.ts';",
    "import type { FastifyInstance } from 'fastify';",
    "import { createHash } from 'node:crypto';",
    'export type P = [CoordinatorPool, FastifyInstance];',
    'export const s = [JsonStreamSplitter, createHash];',
    '',
  ].join('\n'));
});

test('nothing outside test/ imports from test/, statically or dynamically; tests import anything', async () => {
  const fromTest = "import { freePort } from '../../test/helpers/cluster.ts';\nexport const f = freePort;\n";
  await failsWith('src/cli/probe.ts', fromTest, 'no-restricted-imports');
  await failsWith('src/launch/probe.ts', fromTest, 'no-restricted-imports');
  await failsWith('scripts/probe.ts', "import { freePort } from '../test/helpers/cluster.ts';\nexport const f = freePort;\n", 'no-restricted-imports');
  await failsWith('sim/probe.ts', "export { sleep } from '../test/helpers/cluster.ts';\n", 'no-restricted-imports');
  await failsWith('src/cli/probe.ts', "export const f = (): Promise<unknown> => import('../../test/helpers/cluster.ts');\n", 'no-restricted-syntax');
  await passes('test/integration/probe.test.ts', [
    "import { dial } from '../../src/node/transport.ts';",
    "import { CoordinatorCore } from '../../src/core/coordinator.ts';",
    "import { freePort } from '../helpers/cluster.ts';",
    'export const all = [dial, CoordinatorCore, freePort];',
    '',
  ].join('\n'));
});

test('the runtime shell may not import the web app, nor the TCP client the shell (beyond its dialler)', async () => {
  await failsWith('src/node/probe.ts', "import { buildServer } from '../web/server.ts';\nexport const b = buildServer;\n", 'no-restricted-imports');
  await failsWith('src/client/probe.ts', "import { CoordinatorNode } from '../node/coordinator-node.ts';\nexport const c = CoordinatorNode;\n", 'no-restricted-imports');
  await passes('src/client/probe.ts', "import { dial } from '../node/transport.ts';\nexport const d = dial;\n");
});
