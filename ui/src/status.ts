// The global status region (#status, role=status, aria-live=polite): short
// messages that are not tied to one control. It shows as a toast that fades
// after a while; its text stays until the next message.

import { byId } from './dom.js';

export type StatusKind = 'info' | 'success' | 'error';

let fadeTimer: number | null = null;

export function announce(message: string, kind: StatusKind = 'info', ms = 6000): void {
  const el = byId('status');
  if (fadeTimer !== null) window.clearTimeout(fadeTimer);
  el.dataset.kind = kind;
  el.classList.remove('status-idle');
  // Clearing first makes screen readers announce a repeated message again.
  el.textContent = '';
  window.requestAnimationFrame(() => {
    el.textContent = message;
  });
  fadeTimer = window.setTimeout(() => {
    el.classList.add('status-idle');
    fadeTimer = null;
  }, ms);
}

export function clearStatus(): void {
  const el = byId('status');
  if (fadeTimer !== null) window.clearTimeout(fadeTimer);
  fadeTimer = null;
  el.textContent = '';
  el.classList.add('status-idle');
}
