// A tweet's text as DOM nodes: URLs, @mentions and #tags become links, everything else text
// nodes. Built with createElement and textContent only: no HTML string is ever parsed, so a
// tweet cannot become markup. Outside links carry rel="noopener noreferrer nofollow".

import { h } from './dom.js';

// http(s) URLs up to white space; @name as the web's usernames; #tag of letters, digits, _.
const TOKEN = /(https?:\/\/[^\s<>"]+)|(^|[^\w@])@([A-Za-z0-9_]{1,32})\b|(^|[^\w#&])#([\p{L}\p{N}_]{1,64})/gu;
/** Punctuation that ends a sentence rather than a URL. */
const TRAILING = /[.,;:!?)\]'"]+$/;

export function richText(text: string): Node[] {
  const out: Node[] = [];
  let last = 0;
  const push = (s: string): void => {
    if (s.length > 0) out.push(document.createTextNode(s));
  };
  for (const m of text.matchAll(TOKEN)) {
    const at = m.index;
    if (m[1] !== undefined) {
      const url = m[1].replace(TRAILING, '');
      push(text.slice(last, at));
      out.push(h('a', { href: url, class: 'tweet-link', rel: 'noopener noreferrer nofollow', target: '_blank' }, url));
      last = at + url.length;
    } else if (m[3] !== undefined) {
      const lead = m[2] ?? '';
      push(text.slice(last, at + lead.length));
      out.push(h('a', { href: `/u/${encodeURIComponent(m[3])}`, class: 'tweet-mention', 'data-nav': '' }, `@${m[3]}`));
      last = at + lead.length + 1 + m[3].length;
    } else if (m[5] !== undefined) {
      // No tag page: the store cannot list a tag's posts without scanning every post (README).
      const lead = m[4] ?? '';
      push(text.slice(last, at + lead.length));
      out.push(h('span', { class: 'tweet-tag' }, `#${m[5]}`));
      last = at + lead.length + 1 + m[5].length;
    }
  }
  push(text.slice(last));
  return out;
}
