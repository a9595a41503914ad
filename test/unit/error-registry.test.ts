// The error registry (src/wire/errors.ts) against what it documents and what it
// describes: the README's error table must be the registry's, every code the
// source names must be registered, and every reply the source builds must carry
// a status the registry gives its code.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, ERROR_TABLE_HEADER, abortReply, errorReply, errorTableRows, isRetryable, renderErrorTable, statusText, type FailureStatus, type StatusRule } from '../../src/wire/errors.ts';
import type { ErrorCode } from '../../src/wire/protocol.ts';
import { RETRY_AFTER_S } from '../../src/web/problems.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

/** The rows of the first markdown table after the line holding `marker`, as trimmed cells. */
function tableAfter(markdown: string, marker: string): string[][] {
  const lines = markdown.split('\n');
  const at = lines.findIndex((l) => l.includes(marker));
  assert.ok(at >= 0, `README.md has no line with ${marker}`);
  let i = at + 1;
  while (i < lines.length && !(lines[i] as string).startsWith('|')) i++;
  const rows: string[][] = [];
  for (; i < lines.length && (lines[i] as string).startsWith('|'); i++) {
    // Cells split on pipes that are not escaped (`\|` is a pipe inside a cell).
    const cells = (lines[i] as string)
      .trim()
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replaceAll('\\|', '|'));
    rows.push(cells);
  }
  return rows;
}

/** Every TypeScript source under src/, as [path, text]. */
function sources(): [string, string][] {
  const dir = join(ROOT, 'src');
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts'))
    .map((f) => [join('src', f), readFileSync(join(dir, f), 'utf8')]);
}

function allows(code: ErrorCode, status: FailureStatus): boolean {
  return (ERROR_CODES[code].statuses as readonly StatusRule[]).some((r) => r.status === status);
}

function matches(re: RegExp): { file: string; code: string; at: string }[] {
  const out: { file: string; code: string; at: string }[] = [];
  for (const [file, text] of sources()) {
    for (const m of text.matchAll(re)) out.push({ file, code: m[1] as string, at: m[0].replace(/\s+/g, ' ') });
  }
  return out;
}

describe('the error registry', () => {
  test("README.md's error table is the registry's (paste renderErrorTable() there when this fails)", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const rows = tableAfter(readme, '**Error codes**');
    const expected = renderErrorTable();
    const hint = `\nThe README's table should read:\n\n${expected}\n`;
    assert.deepEqual(rows[0], [...ERROR_TABLE_HEADER], `the table's header${hint}`);
    const body = rows.slice(2);
    assert.deepEqual(
      body.map((r) => r[0]),
      CODES,
      `the README lists these codes, in this order${hint}`,
    );
    const want = errorTableRows();
    body.forEach((r, i) => assert.deepEqual(r, want[i], `the README's row for ${r[0]}${hint}`));
  });

  test('every code named in src/ is registered', () => {
    const found = matches(/\bcode:\s*'([A-Z_]+)'/g);
    assert.ok(found.length > 20, `expected many code literals in src/, found ${found.length}`);
    const unknown = found.filter((f) => !CODES.includes(f.code as ErrorCode));
    assert.deepEqual(unknown, [], 'codes used in src/ but missing from src/wire/errors.ts');
  });

  test('every ERROR reply built in src/ carries a code the registry allows as ERROR', () => {
    const built = [
      ...matches(/status:\s*'ERROR',\s*code:\s*'([A-Z_]+)'/g),
      ...matches(/\berrorReply\(\s*'([A-Z_]+)'/g),
      ...matches(/\berrorLine\(\s*'([A-Z_]+)'/g),
      ...matches(/\bfailAndClose\([^,()]+,\s*'([A-Z_]+)'/g),
    ];
    assert.ok(built.length >= 10, `expected the ERROR replies of src/node and src/core, found ${built.length}`);
    const wrong = built.filter((b) => !allows(b.code as ErrorCode, 'ERROR'));
    assert.deepEqual(wrong, [], 'ERROR replies with a code the registry says is never ERROR');
  });

  test('every ABORT reply built with a literal code carries a code the registry allows as ABORT', () => {
    const wrong = matches(/status:\s*'ABORT',\s*code:\s*'([A-Z_]+)'/g).filter((b) => !allows(b.code as ErrorCode, 'ABORT'));
    assert.deepEqual(wrong, []);
  });

  test("the reasons a transaction fails for in the cores are codes the registry allows as ABORT, but for two that never reach a client as ABORT", () => {
    // Why these two are registered as ERROR only: a client's own abort is answered OK and a
    // closed connection is answered nothing (both recorded with INVALID); a worker refuses with
    // INVALID only a lock or prepare of a transaction already committing, which the coordinator
    // never sends; INTERNAL is the fallback for a failed transaction with no reason recorded,
    // and every path that fails one records its reason.
    const neverAbortToAClient = new Set<string>(['INVALID', 'INTERNAL']);
    const inCore = sources()
      .filter(([f]) => f.startsWith(join('src', 'core')))
      .flatMap(([file, text]) => [...text.matchAll(/(status:\s*'ERROR',\s*)?\bcode:\s*'([A-Z_]+)'/g)].filter((m) => m[1] === undefined).map((m) => ({ file, code: m[2] as string })));
    assert.ok(inCore.length > 10, `expected the cores' failure reasons, found ${inCore.length}`);
    const wrong = inCore.filter((r) => !allows(r.code as ErrorCode, 'ABORT') && !neverAbortToAClient.has(r.code));
    assert.deepEqual(wrong, []);
  });

  test('no file in src/ but the registry builds an ERROR or ABORT reply by hand: every one is errorReply() or abortReply()', () => {
    // A status as a value (a field of an object being built), not as a type (`status: 'ABORT' | 'ERROR'`, `status: 'ERROR';`).
    const byHand = matches(/(?:\bstatus|["']status["'])\s*:\s*["'](ERROR|ABORT)["'](?!\s*[|;])/g).filter((m) => m.file !== join('src', 'wire', 'errors.ts'));
    assert.deepEqual(byHand, [], 'replies built by hand: build them with errorReply(code, error) or abortReply(reason) from src/wire/errors.ts');
  });

  test('no code gives one action two statuses, and each rule names actions or a case', () => {
    for (const code of CODES) {
      const seen = new Map<string, FailureStatus>();
      for (const r of ERROR_CODES[code].statuses as readonly StatusRule[]) {
        assert.ok(r.actions === 'any' || r.actions.length > 0 || r.also !== undefined, `${code}: a rule that applies to nothing`);
        for (const a of r.actions === 'any' ? ['*'] : r.actions) {
          assert.ok(!seen.has(a) || seen.get(a) === r.status, `${code}: ${a} is both ${seen.get(a)} and ${r.status}`);
          seen.set(a, r.status);
        }
      }
      assert.ok(ERROR_CODES[code].meaning.length > 0 && ERROR_CODES[code].action.length > 0, `${code}: say what it means and what to do`);
    }
  });

  test('the statuses where reads and writes differ are as the code answers them', () => {
    assert.equal(statusText(ERROR_CODES.NOT_FOUND), 'ABORT for `update`, `delete` and `delete_item`; ERROR for `get_tweet`, `get_item` and `remove_worker`');
    assert.equal(statusText(ERROR_CODES.UNAVAILABLE), 'ABORT for writes; ERROR for `get_tweets`, `get_tweet`, `get_item`, `subscribe`, `register`, `remove_worker` and a connection over a connection limit');
    assert.equal(statusText(ERROR_CODES.INVALID), 'ERROR');
    assert.ok(!/trace/i.test(ERROR_CODES.INTERNAL.meaning + ERROR_CODES.INTERNAL.action), 'an INTERNAL reply carries no trace id: the registry must not promise one');
  });

  test('the web app sends Retry-After for exactly the codes the registry calls retryable', () => {
    for (const code of CODES) assert.equal(RETRY_AFTER_S[code] !== undefined, isRetryable(code), code);
  });

  test('the builders make the reply lines the API documents, status first and `error` last', () => {
    assert.equal(JSON.stringify(errorReply('INVALID', 'field "x" is unknown')), '{"status":"ERROR","code":"INVALID","error":"field \\"x\\" is unknown"}');
    assert.equal(JSON.stringify(abortReply({ code: 'LOCKED', error: 'tweet t1 is locked by another transaction' })), '{"status":"ABORT","code":"LOCKED","error":"tweet t1 is locked by another transaction"}');
  });
});
