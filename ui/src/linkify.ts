// A tweet's text as DOM nodes: URLs, @mentions and #tags become links, everything else text
// nodes. Built with createElement and textContent only: no HTML string is ever parsed, so a
// tweet cannot become markup. Outside links carry rel="noopener noreferrer nofollow". What is
// a link is decided by tokens.ts, the rule the server indexes tags by.

import { h } from './dom.js';
import { tokens } from './tokens.js';

/** The address of a tag's page. */
export const tagPath = (tag: string): string => `/tag/${encodeURIComponent(tag)}`;

export function richText(text: string): Node[] {
  const out: Node[] = [];
  let last = 0;
  const push = (s: string): void => {
    if (s.length > 0) out.push(document.createTextNode(s));
  };
  for (const t of tokens(text)) {
    push(text.slice(last, t.at));
    const written = text.slice(t.at, t.end);
    if (t.kind === 'url') out.push(h('a', { href: t.url, class: 'tweet-link', rel: 'noopener noreferrer nofollow', target: '_blank' }, written));
    else if (t.kind === 'mention') out.push(h('a', { href: `/u/${encodeURIComponent(t.name)}`, class: 'tweet-mention', 'data-nav': '' }, written));
    // a tag past the post's first TAGS_PER_POST_MAX is not indexed: bold, not a link to a page that would not list it
    else if (t.linked) out.push(h('a', { href: tagPath(t.tag), class: 'tweet-tag', 'data-nav': '' }, written));
    else out.push(h('span', { class: 'tweet-tag-plain' }, written));
    last = t.end;
  }
  push(text.slice(last));
  return out;
}
