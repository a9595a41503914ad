// The layers, enforced here (issue #11 item 6). "A -> B" means files in A may import from B;
// nothing else. Folders under src/ are one level deep (a subfolder needs its own line below).
//
//   src/wire     the protocol: messages, framing, validation, limits, error codes -> nothing
//   src/core     the pure state machines -> src/wire, node:assert, node:util; and no clock, timers,
//                process, console, randomness or dynamic import
//   src/storage  the SQLite stores -> src/core, src/wire, node:*, better-sqlite3
//   src/client   the TCP client and its pool -> src/wire, src/node/transport.ts, node:*
//   src/node     the runtime shell (coordinator, worker), over an Env (env.ts) -> src/core,
//                src/wire, src/storage, node:*, pino, prom-client (metrics.ts)
//   src/web      the web app -> src/wire, src/client, ui/src/tokens.ts, node:*, npm packages
//   src/check    checkers: models, linearizability, the acknowledged-write load -> src/core,
//                src/wire, src/client
//   src/launch   starting and stopping tweetdb's processes -> src/client, src/wire,
//                src/node/cluster-key.ts, src/node/access-tokens.ts, src/node/transport.ts, node:*
//   src/fuzz     the fuzzers -> src/core, src/wire, src/client, src/node, src/launch, node:*
//   src/bench    the benchmark -> src/client, src/launch, src/wire, src/node, src/cli/certs.ts,
//                node:*, npm packages
//   src/cli      the commands -> every folder of src, node:*, npm packages
//   sim          the simulator -> src/core, src/wire, src/storage, src/node, src/check, node:*, pino
//   scripts      -> src, sim, node:*, npm packages
//   test         -> anything. Nothing outside test/ imports from test/.
//
// Marked TRANSITIONAL below: imports that break a rule today and go when their move lands
// (the protocol types and limits into src/wire; the logger and the dialler out of src/node).

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Sibling files in the same folder. */
const SELF = String.raw`\./[^/]+`;
/** Node's built-in modules. */
const NODE = 'node:.+';
/** npm packages: neither relative nor node: built-ins. */
const NPM = '[^./][^:]*';
/** Files in these folders of src/, seen from a folder of src/. */
const src = (...folders) => String.raw`\.\./(?:${folders.join('|')})/[^/]+`;
/** Exactly these files of src/, seen from a folder of src/. */
const srcFile = (...files) => files.map((f) => String.raw`\.\./${f.replace(/\./g, '\\.')}`).join('|');

const IMPORTS_FROM_TEST = String.raw`(?:^|/)test/`;
const NO_TEST_IMPORTS = { regex: IMPORTS_FROM_TEST, message: 'Nothing outside test/ imports from test/: move what you need into src/ (see the layers at the top of eslint.config.js).' };
// Dynamic import() is not seen by no-restricted-imports; esquery's regex cannot hold a slash, hence \x2F.
const NO_DYNAMIC_TEST_IMPORTS = { selector: String.raw`ImportExpression[source.value=/(^|\x2F)test\x2F/]`, message: NO_TEST_IMPORTS.message };

/** The config of one layer: its files may import only what `allowed` (regexes of import paths) matches. */
function layer(name, files, allowed, extra = {}) {
  return {
    name: `layers/${name}`,
    files,
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: `^(?!(?:${allowed.join('|')})$)`, message: `${name} may not import this: see the layers at the top of eslint.config.js.` }] }],
      'no-restricted-syntax': ['error', NO_DYNAMIC_TEST_IMPORTS, ...(extra.syntax ?? [])],
      ...extra.rules,
    },
  };
}

/** What makes a core impure: a clock, timers, the process, I/O, randomness. */
const CORE_GLOBALS = ['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate', 'queueMicrotask', 'process', 'performance', 'require', 'fetch', 'crypto', 'console', 'globalThis'].map((name) => ({
  name,
  message: `The core is pure: no ${name}. Timers, time and I/O come in as events and go out as effects (the shell runs them).`,
}));
const CORE_CLOCK = 'The core is pure: it reads no clock; the time comes with each event (`now`).';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'dist/', 'ui/public/js/', 'test-results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    name: 'layers/no-test-imports',
    files: ['src/**', 'sim/**', 'scripts/**', 'bench/**', 'bin/**', 'ui/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [NO_TEST_IMPORTS] }],
      'no-restricted-syntax': ['error', NO_DYNAMIC_TEST_IMPORTS],
    },
  },
  layer('src/wire', ['src/wire/**'], [
    SELF,
    'node:(?:assert|util|buffer|string_decoder)',
    // TRANSITIONAL: the request and reply types, LIMITS and the cursor's encoding move into src/wire.
    srcFile('core/types.ts', 'core/render.ts', 'core/coordinator.ts'),
  ]),
  layer('src/core', ['src/core/**'], [SELF, src('wire'), 'node:(?:assert|util)'], {
    syntax: [
      { selector: 'ImportExpression', message: 'The core loads nothing at run time.' },
      { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: CORE_CLOCK },
      { selector: "CallExpression[callee.name='Date']", message: CORE_CLOCK },
    ],
    rules: {
      'no-restricted-globals': ['error', ...CORE_GLOBALS],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: CORE_CLOCK },
        { object: 'Math', property: 'random', message: 'The core is pure: randomness comes in with the events, so a simulated run replays from its seed.' },
      ],
    },
  }),
  layer('src/storage', ['src/storage/**'], [SELF, src('core', 'wire'), NODE, 'better-sqlite3']),
  layer('src/client', ['src/client/**'], [SELF, src('wire'), srcFile('node/transport.ts'), NODE]),
  layer('src/node', ['src/node/**'], [SELF, src('core', 'wire', 'storage'), NODE, 'pino', 'prom-client']),
  layer('src/web', ['src/web/**'], [
    SELF,
    src('wire', 'client'),
    NODE,
    NPM,
    // TRANSITIONAL: ErrorCode and TweetView move into src/wire; the logger out of src/node.
    srcFile('core/types.ts', 'core/render.ts', 'node/log.ts'),
    // The page's rule for what in a tweet is a #tag (pure, no imports): the server indexes by it.
    String.raw`\.\./\.\./ui/src/tokens\.ts`,
  ]),
  layer('src/check', ['src/check/**'], [SELF, src('core', 'wire', 'client')]),
  layer('src/launch', ['src/launch/**'], [SELF, src('client', 'wire'), srcFile('node/cluster-key.ts', 'node/access-tokens.ts', 'node/transport.ts'), NODE]),
  layer('src/fuzz', ['src/fuzz/**'], [SELF, src('core', 'wire', 'client', 'node', 'launch'), NODE]),
  layer('src/bench', ['src/bench/**'], [SELF, src('client', 'launch', 'wire', 'node'), srcFile('cli/certs.ts'), NODE, NPM]),
  layer('src/cli', ['src/cli/**'], [SELF, String.raw`\.\./[a-z-]+/[^/]+`, NODE, NPM]),
  layer('sim', ['sim/**'], [SELF, String.raw`\.\./src/(?:core|wire|storage|node|check)/[^/]+`, NODE, 'pino']),
  layer('scripts', ['scripts/**'], [SELF, String.raw`\.\./src/[a-z-]+/[^/]+`, String.raw`\.\./sim/[^/]+`, NODE, NPM]),
);
