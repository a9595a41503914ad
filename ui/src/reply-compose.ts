// The small composer a tweet's "Reply" button opens under it. Same rules as the compose box:
// 280 code points with the live counter, Ctrl/Cmd+Enter to send, one Idempotency-Key per
// attempt (kept while the text is unchanged, so a retry cannot post twice), and any message
// cleared as soon as the text changes.

import { ApiError, replyTo } from './api.js';
import { updateCounter } from './counter.js';
import { h, isMac } from './dom.js';
import { isConnectivity, isSessionEnd, messageFor, MSG } from './messages.js';
import { uuid } from './text.js';
import type { Tweet } from './types.js';

/** A failure after which the reply may be saved (or about to be): the same key must be reused. */
function mayHaveLanded(err: unknown): boolean {
  return !(err instanceof ApiError) || err.status >= 500 || err.code === 'LOCKED';
}

export class ReplyCompose {
  readonly form: HTMLDivElement;
  private readonly textarea: HTMLTextAreaElement;
  private readonly count: HTMLSpanElement;
  private readonly hint: HTMLSpanElement;
  private readonly send: HTMLButtonElement;
  private readonly cancel: HTMLButtonElement;
  private readonly message: HTMLParagraphElement;
  private attempt: { key: string; content: string } | null = null;
  private busy = false;
  /** the message shown is about reaching the server (cleared when the page is Live again) */
  private stale = false;

  constructor(
    private readonly parent: Tweet,
    private readonly done: (reply: Tweet | null) => void,
  ) {
    this.textarea = h('textarea', { class: 'reply-editor', 'aria-label': `Reply to ${parent.username}`, rows: '2', spellcheck: 'true', placeholder: 'Write your reply' });
    this.count = h('span', { class: 'count', 'aria-hidden': 'true' });
    this.hint = h('span', { class: 'hint', 'aria-live': 'polite' });
    this.cancel = h('button', { type: 'button', class: 'btn btn-ghost btn-sm reply-cancel' }, 'Cancel');
    this.send = h('button', { type: 'button', class: 'btn btn-primary btn-sm reply-send' }, 'Reply');
    this.message = h('p', { class: 'tweet-error reply-message', role: 'alert' });
    this.message.hidden = true;
    const keys = h('span', { class: 'kbd-hint' }, `${isMac() ? '⌘' : 'Ctrl'}+Enter to reply · Esc to cancel`);
    this.form = h(
      'div',
      { class: 'reply-form' },
      this.textarea,
      h('div', { class: 'tweet-edit-bar' }, h('div', { class: 'bar-left' }, this.hint, keys), h('div', { class: 'bar-right' }, this.count, this.cancel, this.send)),
      this.message,
    );
    this.textarea.addEventListener('input', () => {
      this.setMessage(null); // it was about the text as it was
      this.refresh();
    });
    this.textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        if (!this.busy) this.done(null);
      } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        void this.submit();
      }
    });
    this.cancel.addEventListener('click', () => this.done(null));
    this.send.addEventListener('click', () => void this.submit());
    this.refresh();
  }

  focus(): void {
    this.textarea.focus();
  }

  /** The page is Live again: a message about not reaching the server no longer holds. */
  recovered(): void {
    if (this.stale && !this.busy) this.setMessage(null);
  }

  private refresh(): void {
    const state = updateCounter(this.textarea.value, this.count, this.hint);
    this.send.disabled = this.busy || state === 'empty' || state === 'over';
    this.textarea.setAttribute('aria-invalid', String(state === 'over'));
    this.send.textContent = this.busy ? 'Replying…' : this.attempt !== null && this.attempt.content === this.textarea.value ? 'Retry' : 'Reply';
  }

  private setMessage(text: string | null, stale = false): void {
    this.stale = text !== null && stale;
    this.message.textContent = text ?? '';
    this.message.hidden = text === null;
    this.refresh();
  }

  private async submit(): Promise<void> {
    if (this.busy || this.send.disabled) return;
    const content = this.textarea.value;
    if (this.attempt === null || this.attempt.content !== content) this.attempt = { key: uuid(), content };
    this.busy = true;
    this.textarea.readOnly = true;
    this.cancel.disabled = true;
    this.form.setAttribute('aria-busy', 'true');
    this.setMessage(null);
    try {
      const reply = await replyTo(this.parent.id, content, this.attempt.key);
      this.attempt = null;
      this.done(reply);
    } catch (err) {
      if (isSessionEnd(err, 'post')) return;
      if (!mayHaveLanded(err)) this.attempt = null;
      const text =
        err instanceof ApiError && err.code === 'NOT_FOUND'
          ? 'This post was deleted, so it cannot take replies.'
          : err instanceof ApiError && err.code === 'LOCKED'
            ? "This post is busy right now. Reply again in a moment — it won't be posted twice."
            : err instanceof ApiError && (err.code === 'UNKNOWN_OUTCOME' || err.code === 'TIMEOUT')
              ? MSG.unknownOutcomeGaveUp
              : messageFor(err, 'post');
      this.busy = false;
      this.textarea.readOnly = false;
      this.cancel.disabled = false;
      this.form.removeAttribute('aria-busy');
      this.setMessage(text, isConnectivity(err));
      this.textarea.focus();
    }
  }
}
