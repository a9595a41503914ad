// The compose box: live code-point counter, Ctrl/Cmd+Enter to post, and a
// post that is safe to retry. Each compose attempt gets one Idempotency-Key,
// reused on every retry of that same text, so the server never posts twice.
// The draft is kept in localStorage per user, so a reload (or another tab's
// logout) does not lose it. One button posts and, after a failure, retries.

import { ApiError, postTweet } from './api.js';
import { updateCounter } from './counter.js';
import { byId, isMac, show } from './dom.js';
import { isConnectivity, isSessionEnd, messageFor, MSG } from './messages.js';
import { announce } from './status.js';
import { uuid, type LengthState } from './text.js';
import type { Timeline } from './timeline.js';

/** Automatic retries after an unknown outcome, before offering a button. */
const AUTO_RETRIES = 3;
const RETRY_DELAY_MS = [1000, 2000, 4000];
/** After this long on "Posting…" the page says why it is still waiting. */
const SLOW_MS = 2000;
/** Drafts are stored under this prefix and the user's name. */
const DRAFT_KEY = 'tweetdb.draft.';

function isLocked(err: unknown): boolean {
  return err instanceof ApiError && err.code === 'LOCKED';
}

/** localStorage, or null where the browser refuses it (private modes, storage full). */
function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

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

  private state: LengthState = 'empty';
  private busy = false;
  /** the Idempotency-Key of the current attempt, and the text it is for */
  private attempt: { key: string; content: string } | null = null;
  private generation = 0;
  /** whose draft the box holds (null: signed out, nothing is stored) */
  private draftOwner: string | null = null;
  /** the message shown is about reaching the server: cleared when the page is Live again */
  private staleOnRecovery = false;

  constructor(private readonly timeline: Timeline) {
    byId('compose-keys').textContent = `${isMac() ? '⌘' : 'Ctrl'}+Enter to post`;
    this.textarea.addEventListener('input', () => {
      // any message was about the text as it was
      this.setMessage(null);
      this.refresh();
      this.saveDraft();
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
    this.refresh();
  }

  /** Back to a fresh box for `user` (holding their saved draft), or an empty one when signed out. */
  reset(user: string | null = null): void {
    this.generation++;
    this.busy = false;
    this.attempt = null;
    this.draftOwner = user;
    this.textarea.value = user === null ? '' : (storage()?.getItem(DRAFT_KEY + user) ?? '');
    this.textarea.readOnly = false;
    this.setBusy(false);
    this.setMessage(null);
    this.refresh();
  }

  /** Forgets the signed-in user's draft (an explicit logout: the next person at this browser must not see it). */
  forgetDraft(): void {
    if (this.draftOwner !== null) storage()?.removeItem(DRAFT_KEY + this.draftOwner);
  }

  /** The page is Live again: a message about not reaching the server no longer holds. */
  recovered(): void {
    if (this.staleOnRecovery && !this.busy) this.setMessage(null);
  }

  private saveDraft(): void {
    if (this.draftOwner === null) return;
    try {
      if (this.textarea.value === '') storage()?.removeItem(DRAFT_KEY + this.draftOwner);
      else storage()?.setItem(DRAFT_KEY + this.draftOwner, this.textarea.value);
    } catch {
      // storage full or refused: the draft lives in the box only
    }
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
    // A failed attempt whose text is unchanged is retried with the same key: the one button says so.
    this.submit.textContent = busy ? 'Posting…' : this.attempt !== null && this.attempt.content === this.textarea.value ? 'Retry' : 'Post';
    this.refresh();
  }

  private setMessage(text: string | null, kind: 'error' | 'info' = 'error', stale = false): void {
    this.staleOnRecovery = text !== null && stale;
    if (text === null && this.attempt !== null && this.attempt.content !== this.textarea.value && !this.busy) this.submit.textContent = 'Post';
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
    this.setMessage(null);
    // "Posting…" that lasts: say why (a frozen or slow worker holds the commit up).
    const slow = window.setTimeout(() => {
      if (gen === this.generation && this.busy && !this.message.textContent) this.setMessage(MSG.slow, 'info');
    }, SLOW_MS);

    try {
      for (let tries = 0; ; tries++) {
        try {
          const tweet = await postTweet(content, key);
          if (gen !== this.generation) return;
          // only where it belongs: not on someone else's profile, a post's page, or a tag it lacks
          if (this.timeline.accepts(tweet)) this.timeline.upsert(tweet);
          this.attempt = null;
          this.textarea.value = '';
          this.saveDraft();
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
          // LOCKED on a post can only be this post's own earlier attempt (its id is the key) still settling:
          // the lock is released within the lock timeout, which the server has already waited out once.
          if ((isUnknownOutcome(err) || isLocked(err)) && tries < AUTO_RETRIES) {
            this.setMessage(isLocked(err) ? MSG.settling : MSG.unknownOutcome, 'info');
            await sleep(RETRY_DELAY_MS[tries] ?? 4000);
            if (gen !== this.generation) return;
            continue;
          }
          // after a network error, a 5xx or a LOCKED the tweet may still be saved (or about to be):
          // keep the key, so retrying the same text cannot post twice
          if (err instanceof ApiError && err.status < 500 && !isLocked(err)) this.attempt = null;
          this.setBusy(false);
          if (isUnknownOutcome(err)) this.setMessage(MSG.unknownOutcomeGaveUp);
          else if (isLocked(err)) this.setMessage(MSG.settlingGaveUp);
          else this.setMessage(messageFor(err, 'post'), 'error', isConnectivity(err));
          return;
        }
      }
    } finally {
      window.clearTimeout(slow);
    }
  }
}
