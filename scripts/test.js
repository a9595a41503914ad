// Runs what CI runs.
//   npm test                          typecheck, lint, then every test suite
//   node scripts/test.js unit         the pure core, framing, validation
//   node scripts/test.js sim          the deterministic simulator (TWEETDB_SIM_SEEDS, default 2000)
//   node scripts/test.js integration  real processes on loopback
//   node scripts/test.js browser      the web app in headless Chromium (skipped, loudly, without one)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const suites = args.length > 0 ? args : ['unit', 'sim', 'integration', 'browser'];

function run(what, cmd, cmdArgs) {
  console.log(`\n== ${what}`);
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\n${what} failed`);
    process.exit(r.status ?? 1);
  }
}

if (args.length === 0) {
  run('typecheck (tsc --noEmit)', process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.']);
  run('typecheck the page (tsc --noEmit -p ui)', process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', 'ui/tsconfig.json']);
  run('lint (eslint)', process.execPath, ['node_modules/eslint/bin/eslint.js', '.']);
}
const files = [];
for (const suite of suites) {
  const dir = join('test', suite);
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.test.ts')) files.push(join(dir, f));
}
// Integration tests start real clusters: two files at a time fit this machine's two cores.
run(`tests (${suites.join(', ')})`, process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files]);
