// The live character counter shared by the compose box and the editor.

import { codePoints, lengthState, MAX_TWEET, type LengthState } from './text.js';

/**
 * Shows "n/280" in `counter`, flags it warn/over, and puts a sentence for
 * screen readers and sighted users in `hint` when the text cannot be sent.
 * Returns the state so the caller can enable or disable its button.
 */
export function updateCounter(text: string, counter: HTMLElement, hint: HTMLElement | null): LengthState {
  const n = codePoints(text);
  const state = lengthState(text);
  counter.textContent = `${n}/${MAX_TWEET}`;
  counter.classList.toggle('count-warn', state === 'warn');
  counter.classList.toggle('count-over', state === 'over');
  if (hint) {
    const over = n - MAX_TWEET;
    const msg =
      state === 'over'
        ? `${over} character${over === 1 ? '' : 's'} over the limit.`
        : state === 'warn'
          ? `${MAX_TWEET - n} character${MAX_TWEET - n === 1 ? '' : 's'} left.`
          : '';
    if (hint.textContent !== msg) hint.textContent = msg;
    hint.classList.toggle('hint-over', state === 'over');
  }
  return state;
}
