// Runs the test suites with Node's own test runner (TypeScript through tsx).
//   node scripts/test.js              everything CI runs
//   node scripts/test.js unit         the pure core, framing, validation
//   node scripts/test.js integration  real processes on loopback
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const suites = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['unit', 'integration'];
const files = [];
for (const suite of suites) {
  const dir = join('test', suite);
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.test.ts')) files.push(join(dir, f));
}
// Integration tests start real clusters: two at a time fit this machine's two cores.
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
