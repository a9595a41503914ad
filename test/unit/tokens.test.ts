// The rule for URLs, @mentions and #tags in a tweet (ui/src/tokens.ts), which the page links by
// and the web server indexes tags by: one rule, so a linked tag is a listed one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_MAX_CHARS, TAGS_PER_POST_MAX, tagName, tagsOf, tokens } from '../../ui/src/tokens.ts';

test('a tag is folded to lower case and NFC, 1 to 64 letters, marks, digits or _, and not only digits', () => {
  assert.equal(tagName('Rust'), 'rust');
  assert.equal(tagName('ÉTÉ_2026'), 'été_2026');
  assert.equal(tagName('e\u0301te\u0301'), 'été'); // decomposed accents: the same tag as the composed one
  assert.equal(tagName('x'.repeat(TAG_MAX_CHARS)), 'x'.repeat(TAG_MAX_CHARS));
  assert.equal(tagName('東京'), '東京');
  for (const no of ['', '2026', '١٢٣', 'x'.repeat(TAG_MAX_CHARS + 1), 'a-b', 'a b', 'a.b', '#a']) assert.equal(tagName(no), null, JSON.stringify(no));
});

test('tokens: URLs swallow a # inside them, @mentions and #tags need a word break before them, offsets point into the text', () => {
  const text = 'See https://example.com/a#frag, ping @ada_1 about #Rust and #2pc; mail@x.y and a#b are neither; issue #7 is no tag.';
  const ts = tokens(text);
  assert.deepEqual(
    ts.map((t) => [t.kind, text.slice(t.at, t.end)]),
    [
      ['url', 'https://example.com/a#frag'],
      ['mention', '@ada_1'],
      ['tag', '#Rust'],
      ['tag', '#2pc'],
    ],
  );
  assert.deepEqual(tagsOf(text), ['rust', '2pc']);
});

test(`only a post's first ${TAGS_PER_POST_MAX} distinct tags are linked and indexed; a repeat of one of them is linked too`, () => {
  const text = `${Array.from({ length: TAGS_PER_POST_MAX + 2 }, (_, i) => `#t${i}`).join(' ')} #T0`;
  const tags = tokens(text).filter((t) => t.kind === 'tag');
  assert.deepEqual(
    tags.map((t) => (t.kind === 'tag' ? [t.tag, t.linked] : null)),
    [...Array.from({ length: TAGS_PER_POST_MAX + 2 }, (_, i) => [`t${i}`, i < TAGS_PER_POST_MAX]), ['t0', true]],
  );
  assert.deepEqual(tagsOf(text), Array.from({ length: TAGS_PER_POST_MAX }, (_, i) => `t${i}`));
});
