import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { JsonStreamSplitter, LineSplitter, type FrameResult } from '../../src/wire/framing.ts';
import { DEFAULT_MAX_REQUEST_BYTES, MAX_NESTING_DEPTH } from '../../src/wire/limits.ts';

function texts(results: FrameResult[]): string[] {
  return results.map((r) => {
    assert.equal(r.kind, 'object', `expected an object, got ${JSON.stringify(r)}`);
    return r.kind === 'object' ? r.text : '';
  });
}

/** Feeds `input` in pieces of `size` characters and collects every result. */
function feed(s: JsonStreamSplitter, input: string, size: number): FrameResult[] {
  const out: FrameResult[] = [];
  for (let i = 0; i < input.length; i += size) out.push(...s.push(input.slice(i, i + size)));
  return out;
}

describe('JsonStreamSplitter', () => {
  test('one compact object', () => {
    const s = new JsonStreamSplitter();
    assert.deepEqual(texts(s.push('{"action":"status"}')), ['{"action":"status"}']);
    assert.equal(s.partial, false);
  });

  test('many objects separated by any whitespace, or none', () => {
    const s = new JsonStreamSplitter();
    const got = texts(s.push(' \t{"a":1}\n\r\n{"b":2}{"c":3}   \n'));
    assert.deepEqual(got, ['{"a":1}', '{"b":2}', '{"c":3}']);
    for (const t of got) JSON.parse(t);
  });

  test("the seed's pretty-printed multi-line example is one object", () => {
    const pretty = '{\n  "action": "post",\n  "tweet": {\n    "username": "alice",\n    "content": "Hello, world!"\n  }\n}\n';
    const s = new JsonStreamSplitter();
    const got = texts(s.push(pretty));
    assert.equal(got.length, 1);
    assert.deepEqual(JSON.parse(got[0] ?? ''), { action: 'post', tweet: { username: 'alice', content: 'Hello, world!' } });
  });

  test('braces, brackets and escaped quotes inside strings do not end the object', () => {
    const obj = '{"content":"a } b { c ] [ \\" } \\\\","x":["}",{"y":"{"}]}';
    JSON.parse(obj);
    const s = new JsonStreamSplitter();
    assert.deepEqual(texts(s.push(`${obj}\n{"n":1}`)), [obj, '{"n":1}']);
  });

  test('an escaped backslash before a closing quote ends the string', () => {
    const obj = '{"a":"\\\\"}';
    assert.deepEqual(JSON.parse(obj), { a: '\\' });
    assert.deepEqual(texts(new JsonStreamSplitter().push(obj)), [obj]);
  });

  test('split at every possible chunk boundary gives the same objects', () => {
    const input = '{"a":"x\\"}y","b":[1,{"c":"]"}]}\n  {\n"d": "\\\\"\n}{"e":"é✓🐦"}';
    const whole = texts(new JsonStreamSplitter().push(input));
    assert.equal(whole.length, 3);
    for (let size = 1; size <= input.length; size++) {
      assert.deepEqual(texts(feed(new JsonStreamSplitter(), input, size)), whole, `chunks of ${size}`);
    }
  });

  test('partial is true only while an object is unfinished', () => {
    const s = new JsonStreamSplitter();
    assert.deepEqual(s.push('  {"a":'), []);
    assert.equal(s.partial, true);
    assert.deepEqual(texts(s.push('1}  ')), ['{"a":1}']);
    assert.equal(s.partial, false);
  });

  test('a non-object at the top level is an INVALID error, after the objects before it', () => {
    const s = new JsonStreamSplitter();
    const r = s.push('{"a":1} [1,2]');
    assert.equal(r.length, 2);
    assert.deepEqual(r[0], { kind: 'object', text: '{"a":1}' });
    assert.equal(r[1]?.kind, 'error');
    if (r[1]?.kind === 'error') {
      assert.equal(r[1].code, 'INVALID');
      assert.match(r[1].error, /JSON object/);
    }
  });

  for (const junk of ['hello', '"str"', '42', '}', 'null']) {
    test(`top-level ${junk} is INVALID`, () => {
      const r = new JsonStreamSplitter().push(junk);
      assert.equal(r.length, 1);
      assert.equal(r[0]?.kind, 'error');
      if (r[0]?.kind === 'error') assert.equal(r[0].code, 'INVALID');
    });
  }

  test('after an error the stream is dead: later input yields nothing', () => {
    const s = new JsonStreamSplitter();
    assert.equal(s.push('x').length, 1);
    assert.deepEqual(s.push('{"a":1}'), []);
    assert.deepEqual(s.push('{"b":2}\n'), []);
  });

  test('an unfinished object growing past the limit is TOO_LARGE', () => {
    const s = new JsonStreamSplitter(64);
    assert.deepEqual(s.push('{"content":"'), []);
    const r = s.push('x'.repeat(100));
    assert.equal(r.length, 1);
    assert.equal(r[0]?.kind, 'error');
    if (r[0]?.kind === 'error') {
      assert.equal(r[0].code, 'TOO_LARGE');
      assert.match(r[0].error, /64 bytes/);
    }
    assert.deepEqual(s.push('"}'), [], 'dead after TOO_LARGE');
  });

  test('the limit counts UTF-8 bytes, not characters', () => {
    const s = new JsonStreamSplitter(40);
    // 15 characters of "é" are 30 bytes; with the prefix the partial object is over 40 bytes.
    assert.deepEqual(s.push('{"content":"'), []);
    const r = s.push('é'.repeat(15));
    assert.equal(r.length, 1);
    assert.equal(r[0]?.kind, 'error');
  });

  test('objects under the limit pass, back to back, without the limit accumulating', () => {
    const s = new JsonStreamSplitter(32);
    const obj = '{"content":"0123456789"}';
    assert.ok(Buffer.byteLength(obj) < 32);
    for (let i = 0; i < 10; i++) assert.deepEqual(texts(s.push(`${obj}\n`)), [obj]);
    // Also when a following object starts in the same chunk.
    assert.deepEqual(texts(s.push(`${obj}{"content":`)), [obj]);
    assert.deepEqual(texts(s.push('"x"}')), ['{"content":"x"}']);
  });

  test('the default limit is 1 MiB, and an unfinished request over it is refused', () => {
    assert.equal(DEFAULT_MAX_REQUEST_BYTES, 1024 * 1024);
    const s = new JsonStreamSplitter();
    const chunk = 'x'.repeat(64 * 1024);
    const out: FrameResult[] = [...s.push('{"content":"')];
    for (let i = 0; i < 17 && out.length === 0; i++) out.push(...s.push(chunk));
    assert.equal(out.length, 1);
    assert.equal(out[0]?.kind, 'error');
    if (out[0]?.kind === 'error') assert.equal(out[0].code, 'TOO_LARGE');
  });

  test('a request just under 1 MiB arriving in socket-sized chunks is accepted', () => {
    const s = new JsonStreamSplitter();
    const body = `{"content":"${'x'.repeat(1024 * 1024 - 20)}"}`;
    assert.ok(Buffer.byteLength(body) <= 1024 * 1024);
    const got = texts(feed(s, body, 64 * 1024));
    assert.equal(got.length, 1);
    assert.equal(got[0]?.length, body.length);
  });

  test(
    'a complete object over the limit is TOO_LARGE even when it arrives in one chunk',
    () => {
      const s = new JsonStreamSplitter(32);
      const big = `{"content":"${'x'.repeat(100)}"}`;
      const r = s.push(big);
      assert.equal(r.length, 1);
      assert.equal(r[0]?.kind, 'error');
      if (r[0]?.kind === 'error') assert.equal(r[0].code, 'TOO_LARGE');
    },
  );

  test(
    'an object that crosses the limit in the chunk that completes it is TOO_LARGE',
    () => {
      const s = new JsonStreamSplitter(64);
      assert.deepEqual(s.push(`{"content":"${'x'.repeat(40)}`), []);
      const r = s.push(`${'x'.repeat(40)}"}`);
      assert.equal(r.length, 1);
      assert.equal(r[0]?.kind, 'error');
    },
  );
});

describe('JsonStreamSplitter: nesting depth', () => {
  const nested = (levels: number): string => `{"action":"status","req":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;

  test('the limit is 32 levels, the request itself being level 1', () => {
    assert.equal(MAX_NESTING_DEPTH, 32);
    const ok = nested(32);
    assert.deepEqual(texts(new JsonStreamSplitter(DEFAULT_MAX_REQUEST_BYTES, MAX_NESTING_DEPTH).push(ok)), [ok]);
  });

  test('attack: a request 5,000 arrays deep is refused INVALID without being kept, and the stream goes on', () => {
    const s = new JsonStreamSplitter(DEFAULT_MAX_REQUEST_BYTES, MAX_NESTING_DEPTH);
    const r = s.push(`${nested(5_000)}\n{"action":"status"}`);
    assert.equal(r.length, 2, JSON.stringify(r).slice(0, 200));
    assert.equal(r[0]?.kind, 'error');
    if (r[0]?.kind === 'error') {
      assert.equal(r[0].code, 'INVALID');
      assert.equal(r[0].fatal, false);
      assert.match(r[0].error, /more than 32 levels deep/);
    }
    assert.deepEqual(r[1], { kind: 'object', text: '{"action":"status"}' });
  });

  test('one level too deep is refused, at every chunk boundary alike', () => {
    const input = `${nested(33)} {"n":1}`;
    for (let size = 1; size <= input.length; size++) {
      const r = feed(new JsonStreamSplitter(DEFAULT_MAX_REQUEST_BYTES, MAX_NESTING_DEPTH), input, size);
      assert.deepEqual(r.map((x) => (x.kind === 'object' ? x.text : `${x.code} fatal=${x.fatal}`)), ['INVALID fatal=false', '{"n":1}'], `chunks of ${size}`);
    }
  });

  test('brackets inside strings do not count as depth', () => {
    const obj = `{"content":"${'['.repeat(100)}"}`;
    assert.deepEqual(texts(new JsonStreamSplitter(DEFAULT_MAX_REQUEST_BYTES, MAX_NESTING_DEPTH).push(obj)), [obj]);
  });

  test('an over-deep request is still held to the size limit', () => {
    const s = new JsonStreamSplitter(1_000, MAX_NESTING_DEPTH);
    assert.deepEqual(s.push('['.repeat(2_000).replace('[', '{')).map((x) => x.kind === 'error' && x.code), ['TOO_LARGE']);
  });

  test('without a depth limit (replies read by a client) deep objects pass', () => {
    const obj = nested(100);
    assert.deepEqual(texts(new JsonStreamSplitter().push(obj)), [obj]);
  });
});

describe('JsonStreamSplitter: work per chunk (slow-drip attack)', () => {
  test('attack: a 100,000-character request fed one character at a time is scanned and measured once, not once per chunk', () => {
    // Today's main re-joins and re-measures the whole pending buffer for every chunk: 30
    // connections doing this took post p50 from 7 to 395 ms. Count the UTF-8 measuring
    // done (every Buffer.byteLength call, whoever makes it) and the splitter's own count.
    const original = Buffer.byteLength;
    let measured = 0;
    Buffer.byteLength = ((s: string | NodeJS.ArrayBufferView | ArrayBuffer | SharedArrayBuffer, enc?: BufferEncoding) => {
      if (typeof s === 'string') measured += s.length;
      return original(s, enc);
    }) as typeof Buffer.byteLength;
    const s = new JsonStreamSplitter(120_000, MAX_NESTING_DEPTH);
    const n = 100_000;
    let got: FrameResult[] = [];
    try {
      got.push(...s.push('{"content":"'));
      for (let i = 0; i < n; i++) got.push(...s.push('x'));
      got = [...got, ...s.push('"}')];
    } finally {
      Buffer.byteLength = original;
    }
    assert.equal(got.length, 1);
    assert.equal(got[0]?.kind === 'object' && got[0].text.length, n + 14);
    assert.ok(measured <= 2 * n, `UTF-8 measuring covered ${measured} characters for a ${n}-character request`);
    assert.ok(s.charsTouched <= 4 * n, `the splitter touched ${s.charsTouched} characters for a ${n}-character request`);
  });
});

describe('LineSplitter (links between nodes)', () => {
  const input = '{"type":"vote","txid":"1.1"}\n#7 {"status":"OK","tweets":[]}\n\n{"type":"ack","txid":"1.2","text":"a\\nb"}\n';
  const expected = ['{"type":"vote","txid":"1.1"}', '#7 {"status":"OK","tweets":[]}', '{"type":"ack","txid":"1.2","text":"a\\nb"}'];

  test('one line per frame, empty lines skipped', () => {
    assert.deepEqual(new LineSplitter(1_000).push(input), expected);
  });

  test('split at every possible chunk boundary gives the same lines', () => {
    for (let size = 1; size <= input.length; size++) {
      const s = new LineSplitter(1_000);
      const out: string[] = [];
      for (let i = 0; i < input.length; i += size) out.push(...(s.push(input.slice(i, i + size)) ?? []));
      assert.deepEqual(out, expected, `chunks of ${size}`);
    }
  });

  test('an unfinished line over the limit is refused (null)', () => {
    const s = new LineSplitter(10);
    assert.deepEqual(s.push('0123456789'), []);
    assert.equal(s.push('x'), null);
  });

  test('a finished line over the limit is refused too, whether it came in one chunk or in parts', () => {
    assert.equal(new LineSplitter(10).push('0123456789x\n'), null);
    assert.deepEqual(new LineSplitter(10).push('0123456789\n'), ['0123456789']);
    const s = new LineSplitter(10);
    assert.deepEqual(s.push('01234'), []);
    assert.equal(s.push('56789x\n'), null);
  });

  test('the limit can be raised once the peer is trusted (an authenticated link)', () => {
    const s = new LineSplitter(4);
    s.setLimit(100);
    assert.deepEqual(s.push('0123456789\n'), ['0123456789']);
  });
});
