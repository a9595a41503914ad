// Avatar circles: the author's initial on a colour derived from the username.
// The colours are CSS classes (avatar-c0 … avatar-c9): no inline styles.

import { h } from './dom.js';

const COLOURS = 10;

function hash(s: string): number {
  // FNV-1a, 32 bit
  let x = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    x ^= s.charCodeAt(i);
    x = Math.imul(x, 0x01000193);
  }
  return x >>> 0;
}

export function initial(username: string): string {
  const first = [...username][0] ?? '?';
  return first.toUpperCase();
}

export function colourClass(username: string): string {
  return `avatar-c${hash(username.toLowerCase()) % COLOURS}`;
}

/** A decorative avatar (the name is always shown next to it). */
export function avatar(username: string, extra = ''): HTMLSpanElement {
  return h('span', { class: `avatar ${colourClass(username)} ${extra}`.trim(), 'aria-hidden': 'true' }, initial(username));
}

/** Re-colours an existing avatar element for another user. */
export function setAvatar(el: HTMLElement, username: string): void {
  for (const c of [...el.classList]) if (c.startsWith('avatar-c')) el.classList.remove(c);
  el.classList.add(colourClass(username));
  el.textContent = initial(username);
}
