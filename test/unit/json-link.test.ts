// A node link writes what a turn queued in bounded pieces: many large replies (reads of 1,000
// tweets each) must never be joined into one string past V8's limit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { JsonLink } from '../../src/node/json-link.ts';
import { LINK_WRITE_MAX_CHARS } from '../../src/wire/limits.ts';
import { productionTimers } from '../../src/node/env.ts';

test('a flush writes the queued lines in pieces of at most LINK_WRITE_MAX_CHARS, in order, nothing lost', () => {
  const socket = new Socket();
  const writes: string[] = [];
  socket.write = ((data: string) => {
    writes.push(data);
    return true;
  }) as typeof socket.write;
  const link = new JsonLink(productionTimers, socket, { onMessage: () => undefined, onClose: () => undefined });
  const line = 'x'.repeat(100_000);
  for (let i = 0; i < 50; i++) link.sendText(i, line);
  link.flush();
  assert.ok(writes.length >= 5, `${writes.length} writes`);
  for (const w of writes) assert.ok(w.length <= LINK_WRITE_MAX_CHARS, `a write of ${w.length}`);
  const all = writes.join('').split('\n').filter((l) => l !== '');
  assert.deepEqual(all.map((l) => l.slice(0, l.indexOf(' '))), Array.from({ length: 50 }, (_, i) => `#${i}`));
  socket.destroy();
});
