// One tweet in the timeline: <li class="tweet" data-id>. It renders the tweet
// (text with textContent only), updates in place, and runs its own edit and
// delete flows. Edit/delete controls exist only on the signed-in user's tweets.

import { deleteTweet, editTweet, setLike, ApiError, type Social } from './api.js';
import { richText } from './linkify.js';
import { ReplyCompose } from './reply-compose.js';
import { avatar } from './avatar.js';
import { confirmDelete } from './confirm.js';
import { updateCounter } from './counter.js';
import { h, icon, ICONS, isMac } from './dom.js';
import { isConnectivity, isSessionEnd, messageFor } from './messages.js';
import { announce } from './status.js';
import { absolute, setTime } from './time.js';
import type { Tweet } from './types.js';

/** True when moving focus would not take it away from something else. */
export function focusIsIdleOrIn(el: HTMLElement): boolean {
  const a = document.activeElement;
  return a === null || a === document.body || el.contains(a);
}

export type RemovalReason = 'deleted-by-me' | 'deleted-live' | 'gone';

export interface TweetViewHost {
  /** The tweet is gone (deleted here or elsewhere): take it off the timeline. */
  remove(view: TweetView, reason: RemovalReason): void;
  /** A reply to `parent` was posted from its composer: show it, and the parent's new count. */
  replied(parent: TweetView, reply: Tweet): void;
}

export class TweetView {
  readonly li: HTMLLIElement;
  tweet: Tweet;
  readonly own: boolean;

  private readonly host: TweetViewHost;
  private readonly content: HTMLParagraphElement;
  private readonly time: HTMLTimeElement;
  private readonly head: HTMLDivElement;
  private readonly actions: HTMLDivElement | null = null;
  private readonly editBtn: HTMLButtonElement | null = null;
  private readonly deleteBtn: HTMLButtonElement | null = null;
  private edited: HTMLSpanElement | null = null;
  private error: HTMLParagraphElement | null = null;
  private editor: {
    form: HTMLDivElement;
    textarea: HTMLTextAreaElement;
    count: HTMLSpanElement;
    hint: HTMLSpanElement;
    save: HTMLButtonElement;
    cancel: HTMLButtonElement;
  } | null = null;
  private busy = false;
  /** the error shown is about reaching the server (cleared when the page is Live again) */
  private staleError = false;
  private readonly replyInfo: HTMLParagraphElement;
  private readonly replies: HTMLAnchorElement;
  private readonly likeBtn: HTMLButtonElement;
  private readonly replyBtn: HTMLButtonElement;
  private replyCompose: ReplyCompose | null = null;
  private social: Social = { reply_to: null, replies: 0, likes: 0, liked: false };

  constructor(tweet: Tweet, me: string | null, host: TweetViewHost) {
    this.tweet = tweet;
    this.host = host;
    this.own = me !== null && tweet.username === me;

    this.time = h('time', { class: 'tweet-time' });
    this.content = h('p', { class: 'tweet-content' });
    const author = h('a', { class: 'tweet-author', href: `/u/${encodeURIComponent(tweet.username)}`, 'data-nav': '' });
    author.textContent = tweet.username;
    const permalink = h('a', { class: 'tweet-permalink', href: `/t/${encodeURIComponent(tweet.id)}`, 'data-nav': '' }, this.time);
    this.head = h('div', { class: 'tweet-head' }, author, h('span', { class: 'tweet-dot', 'aria-hidden': 'true' }, '·'), permalink);
    this.replyInfo = h('p', { class: 'tweet-reply-to' });
    this.replyInfo.hidden = true;
    this.replies = h('a', { class: 'tweet-replies', href: `/t/${encodeURIComponent(tweet.id)}`, 'data-nav': '' }, '0 replies');
    this.likeBtn = h('button', { type: 'button', class: 'btn-like', 'aria-pressed': 'false' }, 'Like · 0');
    this.likeBtn.addEventListener('click', () => void this.toggleLike());
    this.replyBtn = h('button', { type: 'button', class: 'btn-reply', 'aria-expanded': 'false' }, 'Reply');
    this.replyBtn.addEventListener('click', () => this.toggleReply());

    if (this.own) {
      this.editBtn = h('button', { type: 'button', class: 'icon-btn tweet-edit', 'aria-label': 'Edit tweet', title: 'Edit' }, icon([...ICONS.edit]));
      this.deleteBtn = h('button', { type: 'button', class: 'icon-btn tweet-delete', 'aria-label': 'Delete tweet', title: 'Delete' }, icon([...ICONS.trash]));
      this.editBtn.addEventListener('click', () => this.startEdit());
      this.deleteBtn.addEventListener('click', () => void this.askDelete());
      this.actions = h('div', { class: 'tweet-actions' }, this.editBtn, this.deleteBtn);
    }

    this.li = h(
      'li',
      { class: this.own ? 'tweet tweet-own' : 'tweet', 'data-id': tweet.id, tabindex: '-1' },
      avatar(tweet.username, 'tweet-avatar'),
      h('div', { class: 'tweet-main' }, h('div', { class: 'tweet-top' }, this.head, this.actions), this.replyInfo, this.content, h('div', { class: 'tweet-social' }, this.replies, this.replyBtn, this.likeBtn)),
    );
    this.render();
  }

  get id(): string {
    return this.tweet.id;
  }

  /** A save or delete of it is in flight. */
  get pending(): boolean {
    return this.busy;
  }

  /** The page is Live again: an error about reaching the server no longer holds. */
  clearStaleError(): void {
    if (this.staleError) this.setError(null);
    this.replyCompose?.recovered();
  }

  // ---- reply ------------------------------------------------------------------

  /** Opens the reply composer under the tweet, or closes it. */
  toggleReply(): void {
    if (this.replyCompose !== null) {
      this.closeReply(null);
      return;
    }
    this.replyCompose = new ReplyCompose(this.tweet, (reply) => this.closeReply(reply));
    this.li.querySelector('.tweet-social')?.after(this.replyCompose.form);
    this.replyBtn.setAttribute('aria-expanded', 'true');
    this.replyCompose.focus();
  }

  private closeReply(reply: Tweet | null): void {
    const hadFocus = this.replyCompose !== null && this.replyCompose.form.contains(document.activeElement);
    this.replyCompose?.form.remove();
    this.replyCompose = null;
    this.replyBtn.setAttribute('aria-expanded', 'false');
    if (reply !== null) {
      this.host.replied(this, reply);
      announce('Your reply was posted.', 'success');
    }
    if (hadFocus || focusIsIdleOrIn(this.li)) this.replyBtn.focus();
  }

  get editing(): boolean {
    return this.editor !== null;
  }

  /** Applies a newer version of the tweet (from a reply or a live event). */
  update(tweet: Tweet): void {
    const changedUnderEditor =
      this.editor !== null && !this.busy && tweet.content !== this.tweet.content && tweet.content !== this.editor.textarea.value;
    this.tweet = tweet;
    this.render();
    if (changedUnderEditor) this.setError('This tweet was just changed elsewhere. Saving will replace that change.', 'note');
  }

  private render(): void {
    const t = this.tweet;
    if (this.content.textContent !== t.content) this.content.replaceChildren(...richText(t.content));
    setTime(this.time, t.created_at);
    if (t.edited_at) {
      if (this.edited === null) {
        this.edited = h('span', { class: 'tweet-edited' }, 'edited');
        this.head.append(this.edited);
      }
      this.edited.title = `Edited ${absolute(t.edited_at)}`;
    } else if (this.edited !== null) {
      this.edited.remove();
      this.edited = null;
    }
  }

  /** Shows what it answers, its reply and like counts, and whether the reader likes it. */
  setSocial(s: Social): void {
    this.social = s;
    this.replyInfo.hidden = s.reply_to === null;
    if (s.reply_to !== null) this.replyInfo.replaceChildren('Replying to ', h('a', { href: `/t/${encodeURIComponent(s.reply_to)}`, 'data-nav': '' }, 'a post'));
    this.replies.textContent = s.replies === 1 ? '1 reply' : `${s.replies} replies`;
    this.likeBtn.textContent = `${s.liked ? 'Liked' : 'Like'} · ${s.likes}`;
    this.likeBtn.setAttribute('aria-pressed', String(s.liked));
    this.likeBtn.setAttribute('aria-label', `${s.liked ? 'Unlike' : 'Like'} this post (${s.likes} ${s.likes === 1 ? 'like' : 'likes'})`);
  }

  private async toggleLike(): Promise<void> {
    this.likeBtn.disabled = true;
    try {
      const r = await setLike(this.tweet.id, !this.social.liked);
      this.setSocial({ ...this.social, ...r });
      this.setError(null);
    } catch (err) {
      if (!isSessionEnd(err, 'load')) {
        this.setError(`Couldn't change your like. ${messageFor(err, 'load')}`);
        this.staleError = isConnectivity(err);
      }
    } finally {
      this.likeBtn.disabled = false;
    }
  }

  /** Shows (or with null clears) a message inside this tweet. */
  setError(message: string | null, kind: 'error' | 'note' = 'error'): void {
    this.staleError = false;
    if (message === null) {
      this.error?.remove();
      this.error = null;
      return;
    }
    if (this.error === null) {
      this.error = h('p', { class: 'tweet-error', role: 'alert' });
      this.content.parentElement?.append(this.error);
    }
    this.error.classList.toggle('tweet-note', kind === 'note');
    this.error.textContent = message;
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    this.li.classList.toggle('tweet-busy', busy);
    this.li.setAttribute('aria-busy', String(busy));
    if (this.editBtn) this.editBtn.disabled = busy;
    if (this.deleteBtn) this.deleteBtn.disabled = busy;
    if (this.editor) {
      this.editor.textarea.readOnly = busy;
      this.editor.cancel.disabled = busy;
      this.refreshEditor();
      this.editor.save.textContent = busy ? 'Saving…' : 'Save';
    }
  }

  // ---- edit in place ----------------------------------------------------

  startEdit(): void {
    if (!this.own || this.editor !== null || this.busy) return;
    this.setError(null);
    const textarea = h('textarea', {
      class: 'tweet-editor',
      'aria-label': 'Edit your tweet',
      rows: '3',
      spellcheck: 'true',
    });
    textarea.value = this.tweet.content;
    const count = h('span', { class: 'count tweet-editor-count', 'aria-hidden': 'true' });
    const hint = h('span', { class: 'hint tweet-editor-hint', 'aria-live': 'polite' });
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost btn-sm tweet-cancel' }, 'Cancel');
    const save = h('button', { type: 'button', class: 'btn btn-primary btn-sm tweet-save' }, 'Save');
    const keys = h('span', { class: 'kbd-hint' }, `${isMac() ? '⌘' : 'Ctrl'}+Enter to save · Esc to cancel`);
    const form = h(
      'div',
      { class: 'tweet-edit-form' },
      textarea,
      h('div', { class: 'tweet-edit-bar' }, h('div', { class: 'bar-left' }, hint, keys), h('div', { class: 'bar-right' }, count, cancel, save)),
    );
    this.editor = { form, textarea, count, hint, save, cancel };

    textarea.addEventListener('input', () => this.refreshEditor());
    textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        if (!this.busy) this.cancelEdit();
      } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        void this.save();
      }
    });
    cancel.addEventListener('click', () => this.cancelEdit());
    save.addEventListener('click', () => void this.save());

    this.content.hidden = true;
    this.content.after(form);
    if (this.actions) this.actions.hidden = true;
    this.li.classList.add('tweet-editing');
    this.refreshEditor();
    textarea.focus();
    const end = textarea.value.length;
    textarea.setSelectionRange(end, end);
  }

  private refreshEditor(): void {
    const ed = this.editor;
    if (!ed) return;
    const state = updateCounter(ed.textarea.value, ed.count, ed.hint);
    ed.save.disabled = this.busy || state === 'empty' || state === 'over';
    ed.textarea.setAttribute('aria-invalid', String(state === 'over'));
  }

  /** Leaves edit mode; focus goes back to the Edit button when asked. */
  cancelEdit(refocus = true): void {
    if (this.editor === null) return;
    const hadFocus = this.li.contains(document.activeElement);
    this.editor.form.remove();
    this.editor = null;
    this.content.hidden = false;
    if (this.actions) this.actions.hidden = false;
    this.li.classList.remove('tweet-editing');
    this.setError(null);
    if (refocus && hadFocus) this.editBtn?.focus();
  }

  async save(): Promise<void> {
    const ed = this.editor;
    if (ed === null || this.busy || ed.save.disabled) return;
    const content = ed.textarea.value;
    if (content === this.tweet.content) {
      this.cancelEdit();
      return;
    }
    this.setError(null);
    this.setBusy(true);
    try {
      const updated = await editTweet(this.id, content);
      this.setBusy(false);
      const refocus = focusIsIdleOrIn(this.li);
      this.cancelEdit(false);
      this.update(updated);
      if (refocus) this.editBtn?.focus();
      announce('Tweet updated.', 'success');
    } catch (err) {
      this.setBusy(false);
      if (isSessionEnd(err, 'edit')) return;
      if (err instanceof ApiError && err.code === 'NOT_FOUND') {
        announce('That tweet was deleted, so the edit could not be saved.', 'error');
        this.host.remove(this, 'gone');
        return;
      }
      this.setError(messageFor(err, 'edit'));
      this.staleError = isConnectivity(err);
      if (focusIsIdleOrIn(this.li)) this.editor?.textarea.focus();
    }
  }

  // ---- delete -------------------------------------------------------------

  async askDelete(): Promise<void> {
    if (!this.own || this.busy) return;
    this.setError(null);
    const yes = await confirmDelete(this.tweet.content);
    if (!yes || !this.li.isConnected) return;
    this.setBusy(true);
    try {
      await deleteTweet(this.id);
      this.host.remove(this, 'deleted-by-me');
      announce('Tweet deleted.', 'success');
    } catch (err) {
      this.setBusy(false);
      if (isSessionEnd(err, 'delete')) return;
      if (err instanceof ApiError && err.code === 'NOT_FOUND') {
        this.host.remove(this, 'gone');
        announce('That tweet was already deleted.', 'info');
        return;
      }
      this.setError(messageFor(err, 'delete'));
      this.staleError = isConnectivity(err);
      if (focusIsIdleOrIn(this.li)) this.deleteBtn?.focus();
    }
  }
}
