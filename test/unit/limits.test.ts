// The one limits module checks, when it loads, that its limits hold together; here
// the check itself is checked: the real limits pass, and broken copies are refused
// with a sentence naming the limits concerned.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as limitsModule from '../../src/wire/limits.ts';
import { ALL_LIMITS, checkLimits, limitProblems, type Limits } from '../../src/wire/limits.ts';

function broken(change: Partial<Limits>): Limits {
  return { ...ALL_LIMITS, ...change };
}

describe('src/wire/limits.ts', () => {
  test('the limits hold together (the module loaded, so checkLimits passed)', () => {
    assert.deepEqual(limitProblems(ALL_LIMITS), []);
    assert.doesNotThrow(() => checkLimits(ALL_LIMITS));
  });

  test('ALL_LIMITS names every limit the module exports, so each is checked', () => {
    const exported = Object.entries(limitsModule)
      .filter(([name, v]) => name !== 'ALL_LIMITS' && typeof v !== 'function')
      .map(([name]) => name)
      .sort();
    assert.deepEqual(Object.keys(ALL_LIMITS).sort(), exported);
  });

  test('a client request limit at or above the peer message limit is refused, naming both', () => {
    const problems = limitProblems(broken({ DEFAULT_MAX_REQUEST_BYTES: ALL_LIMITS.PEER_MAX_MESSAGE_BYTES }));
    assert.ok(problems.some((p) => p.includes('DEFAULT_MAX_REQUEST_BYTES') && p.includes('PEER_MAX_MESSAGE_BYTES')), problems.join('\n'));
  });

  test('a web page larger than a get_tweets page is refused', () => {
    const problems = limitProblems(broken({ WEB_PAGE: { default: 20, max: ALL_LIMITS.GET_TWEETS_MAX_LIMIT + 1 } as unknown as Limits['WEB_PAGE'] }));
    assert.ok(problems.some((p) => p.includes('WEB_PAGE.max')), problems.join('\n'));
  });

  test('node message limits that drift from the core limits they mirror are refused', () => {
    const problems = limitProblems(broken({ CORE_LIMITS: { ...ALL_LIMITS.CORE_LIMITS, opsPerTransaction: 101 } as unknown as Limits['CORE_LIMITS'] }));
    assert.ok(problems.some((p) => p.includes('NODE_MAX_OPS')), problems.join('\n'));
  });

  test('a limit that is not a positive whole number is refused, by its name', () => {
    const problems = limitProblems(broken({ MAX_PIPELINED_REQUESTS: 0, EVENT_LIMITS: { ...ALL_LIMITS.EVENT_LIMITS, perUser: 1.5 } }));
    assert.ok(problems.some((p) => p.startsWith('MAX_PIPELINED_REQUESTS must be a positive whole number')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('EVENT_LIMITS.perUser must be a positive whole number')), problems.join('\n'));
  });

  test('checkLimits throws with every broken relation, pointing at the module', () => {
    assert.throws(
      () => checkLimits(broken({ OUTPUT_PAUSE_BYTES: ALL_LIMITS.MAX_UNREAD_OUTPUT_BYTES, COPY_PAGE_ROWS: ALL_LIMITS.NODE_MAX_COPY_ROWS + 1 })),
      (e: Error) => e.message.includes('src/wire/limits.ts') && e.message.includes('OUTPUT_PAUSE_BYTES') && e.message.includes('COPY_PAGE_ROWS'),
    );
  });
});
