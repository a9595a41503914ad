// The compose box: live code-point counter, Ctrl/Cmd+Enter to post, and a
// post that is safe to retry. Each compose attempt gets one Idempotency-Key,
// reused on every retry of that same text, so the server never posts twice.

import { ApiError, postTweet } from './api.js';
import { updateCounter } from './counter.js';
import { byId, isMac, show } from './dom.js';
import { isSessionEnd, messageFor, MSG } from './messages.js';
import { announce } from './status.js';
import { uuid, type LengthState } from './text.js';
import type { Timeline } from './timeline.js';

/** Automatic retries after an unknown outcome, before offering a button. */
const AUTO_RETRIES = 3;
const RETRY_DELAY_MS = [1000, 2000, 4000];

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => window.setTimeout(resolve, ms));
}

function isUnknownOutcome(err: unknown): boolean {
  return err instanceof ApiError && (err.code === 'UNKNOWN_OUTCOME' || err.code === 'TIMEOUT');
}

export class Compose {
  private readonly form = byId('compose-form', HTMLFormElement);
  private readonly textarea = byId('compose', HTMLTextAreaElement);
  private readonly count = byId('compose-count');
  private readonly hint = byId('compose-hint');
  private readonly submit = byId('compose-submit', HTMLButtonElement);
  private readonly message = byId('compose-message');
  private readonly retry = byId('compose-retry', HTMLButtonElement);

  private state: LengthState = 'empty';
  private busy = false;
  /** the Idempotency-Key of the current attempt, and the text it is for */
  private attempt: { key: string; content: string } | null = null;
  private generation = 0;

  constructor(private readonly timeline: Timeline) {
    byId('compose-keys').textContent = `${isMac() ? '⌘' : 'Ctrl'}+Enter to post`;
    this.textarea.addEventListener('input', () => {
      this.refresh();
      if (this.attempt !== null && this.attempt.content !== this.textarea.value) {
        // different text: a new attempt, so a retry offer no longer applies
        this.setMessage(null);
        show(this.retry, false);
      }
    });
    this.textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        void this.post();
      }
    });
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.post();
    });
    this.retry.addEventListener('click', () => void this.post());
    this.refresh();
  }

  /** Back to an empty box (sign-in, sign-out). */
  reset(): void {
    this.generation++;
    this.busy = false;
    this.attempt = null;
    this.textarea.value = '';
    this.textarea.readOnly = false;
    this.submit.textContent = 'Post';
    this.setMessage(null);
    show(this.retry, false);
    this.refresh();
  }

  focus(): void {
    this.textarea.focus();
  }

  private refresh(): void {
    this.state = updateCounter(this.textarea.value, this.count, this.hint);
    this.submit.disabled = this.busy || this.state === 'empty' || this.state === 'over';
    this.textarea.setAttribute('aria-invalid', String(this.state === 'over'));
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    this.textarea.readOnly = busy;
    this.form.setAttribute('aria-busy', String(busy));
    this.submit.textContent = busy ? 'Posting…' : 'Post';
    this.refresh();
  }

  private setMessage(text: string | null, kind: 'error' | 'info' = 'error'): void {
    this.message.textContent = text ?? '';
    this.message.dataset.kind = kind;
    show(this.message, text !== null);
  }

  async post(): Promise<void> {
    if (this.busy) return;
    this.refresh();
    if (this.state === 'empty') {
      this.setMessage('Write something first.');
      return;
    }
    if (this.state === 'over') {
      this.setMessage('That is too long: tweets are at most 280 characters.');
      return;
    }
    const content = this.textarea.value;
    if (this.attempt === null || this.attempt.content !== content) this.attempt = { key: uuid(), content };
    const { key } = this.attempt;
    const gen = this.generation;
    this.setBusy(true);
    show(this.retry, false);
    this.setMessage(null);

    for (let tries = 0; ; tries++) {
      try {
        const tweet = await postTweet(content, key);
        if (gen !== this.generation) return;
        this.timeline.upsert(tweet);
        this.attempt = null;
        this.textarea.value = '';
        this.setBusy(false);
        this.setMessage(null);
        announce('Your tweet was posted.', 'success');
        return;
      } catch (err) {
        if (gen !== this.generation) return;
        if (isSessionEnd(err, 'post')) {
          this.setBusy(false);
          return;
        }
        if (isUnknownOutcome(err) && tries < AUTO_RETRIES) {
          this.setMessage(MSG.unknownOutcome, 'info');
          await sleep(RETRY_DELAY_MS[tries] ?? 4000);
          if (gen !== this.generation) return;
          continue;
        }
        this.setBusy(false);
        if (isUnknownOutcome(err)) {
          this.setMessage(MSG.unknownOutcomeGaveUp);
          show(this.retry, true);
        } else {
          // after a network error or a 5xx the tweet may still have been
          // saved: keep the key, so retrying the same text cannot post twice
          if (err instanceof ApiError && err.status < 500) this.attempt = null;
          else show(this.retry, true);
          this.setMessage(messageFor(err, 'post'));
        }
        return;
      }
    }
  }
}
