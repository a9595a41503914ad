// The links in a tweet's text: URLs, @mentions and #tags. One rule for the page (linkify.ts
// draws them) and the web server (src/web/tag-index.ts indexes the tags), so every #tag the
// page links to /tag/NAME is one the server lists under NAME. Pure: no DOM, no imports, so
// both the page's build and the server's TypeScript take this same file.

/** A tag is at most this many code points (after normalising). */
export const TAG_MAX_CHARS = 64;
/**
 * Tags of one post that are indexed and linked: the first this many distinct ones. The rest
 * stay plain bold text (each indexed tag is up to 3 writes of the post's transaction, which
 * holds at most 100).
 */
export const TAGS_PER_POST_MAX = 10;

// http(s) URLs up to white space; @name as the web's usernames; #tag of letters (with their
// marks), digits and _, not glued to a word before it. A URL swallows a # inside it.
const TOKEN = /(https?:\/\/[^\s<>"]+)|(^|[^\w@])@([A-Za-z0-9_]{1,32})\b|(^|[^\w#&])#([\p{L}\p{M}\p{N}_]+)/gu;
/** Punctuation that ends a sentence rather than a URL. */
const TRAILING = /[.,;:!?)\]'"]+$/;
const TAG_CHARS = /^[\p{L}\p{M}\p{N}_]+$/u;
const DIGITS = /^\p{N}+$/u;

export type Token =
  /** `at`: where the token starts in the text; `end`: just past it */
  | { kind: 'url'; at: number; end: number; url: string }
  | { kind: 'mention'; at: number; end: number; name: string }
  /** `text` as written (without #); `tag` normalised; `linked`: among the post's first TAGS_PER_POST_MAX tags */
  | { kind: 'tag'; at: number; end: number; text: string; tag: string; linked: boolean };

/**
 * A tag's name as the store keys it: NFC, lower case (so #Rust and #rust are one tag), 1 to
 * TAG_MAX_CHARS letters, marks, digits or _, and not only digits (so "item #3" is no tag).
 * Null when `raw` (without #) is not a tag.
 */
export function tagName(raw: string): string | null {
  const tag = raw.normalize('NFC').toLowerCase();
  if (!TAG_CHARS.test(tag) || DIGITS.test(tag) || [...tag].length > TAG_MAX_CHARS) return null;
  return tag;
}

/** The URLs, mentions and tags of `text`, in order. */
export function tokens(text: string): Token[] {
  const out: Token[] = [];
  const seen = new Set<string>();
  for (const m of text.matchAll(TOKEN)) {
    const at = m.index;
    if (m[1] !== undefined) {
      const url = m[1].replace(TRAILING, '');
      out.push({ kind: 'url', at, end: at + url.length, url });
    } else if (m[3] !== undefined) {
      const start = at + (m[2] ?? '').length;
      out.push({ kind: 'mention', at: start, end: start + 1 + m[3].length, name: m[3] });
    } else if (m[5] !== undefined) {
      const tag = tagName(m[5]);
      if (tag === null) continue;
      const start = at + (m[4] ?? '').length;
      const linked = seen.has(tag) || seen.size < TAGS_PER_POST_MAX;
      if (linked) seen.add(tag);
      out.push({ kind: 'tag', at: start, end: start + 1 + m[5].length, text: m[5], tag, linked });
    }
  }
  return out;
}

/** The distinct tags of `text` that are indexed (and linked): at most TAGS_PER_POST_MAX. */
export function tagsOf(text: string): string[] {
  const tags = new Set<string>();
  for (const t of tokens(text)) if (t.kind === 'tag' && t.linked) tags.add(t.tag);
  return [...tags];
}
