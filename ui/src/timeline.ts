// The timeline: <ol id="timeline"> of TweetViews, newest first. One map from
// id to view guarantees a tweet is shown once, whichever way it arrives (first
// page, "load more", the POST reply, a live event, a resync). Tweets that
// arrive live while the reader is scrolled down wait behind a "N new posts"
// pill instead of shifting what is being read.

import { getTweet, listReplies, listTagged, listTweets, socialOf } from './api.js';
import { byId, show } from './dom.js';
import { isConnectivity, isSessionEnd, messageFor } from './messages.js';
import { announce } from './status.js';
import { refreshTimes } from './time.js';
import { tagsOf } from './tokens.js';
import { focusIsIdleOrIn, TweetView, type RemovalReason } from './tweet-view.js';
import type { Tweet, TweetPage } from './types.js';

/** a > b: a is newer (created later; ties broken by id). */
function newer(a: Tweet, b: Tweet): boolean {
  const ta = Date.parse(a.created_at);
  const tb = Date.parse(b.created_at);
  if (ta !== tb && !Number.isNaN(ta) && !Number.isNaN(tb)) return ta > tb;
  return compareIds(a.id, b.id) > 0;
}

function compareIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    if (a.length !== b.length) return a.length - b.length;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface UpsertOptions {
  /** show the "new" highlight when the tweet was not on screen yet */
  highlight?: boolean;
  /** from a page of the list: always place it, even past the loaded end */
  fromPage?: boolean;
}

/** Tweets held behind the pill; beyond this many the pill re-reads the first page instead. */
const MAX_PENDING = 100;

export type TimelineScope = { kind: 'home' } | { kind: 'user'; name: string } | { kind: 'tweet'; id: string } | { kind: 'tag'; tag: string };

export class Timeline {
  private readonly list = byId('timeline', HTMLOListElement);
  private readonly loadMoreBtn = byId('load-more', HTMLButtonElement);
  private readonly retryBtn = byId('timeline-retry', HTMLButtonElement);
  private readonly message = byId('timeline-message');
  private readonly empty = byId('timeline-empty');
  private readonly end = byId('timeline-end');
  private readonly loadingEl = byId('timeline-loading');
  private readonly pill = byId('new-posts', HTMLButtonElement);
  /** under the heading on a tag's page: what is listed (the store lists a tag's newest posts only) */
  private readonly about = byId('timeline-about');
  /** live arrivals not shown yet (the reader is scrolled down), newest last */
  private readonly pending = new Map<string, Tweet>();
  private pendingOverflow = false;
  /** the message shown is about reaching the server: it goes when the page is Live again */
  private staleMessage = false;

  private views = new Map<string, TweetView>();
  /** What this list shows: everyone's tweets, one user's (/u/NAME), one tweet (/t/ID), or one tag's (/tag/NAME). */
  private scope: TimelineScope = { kind: 'home' };
  private me: string | null = null;
  private next: string | null = null;
  private pages = 0;
  private loading = false;
  /** bumped on every reset, so answers for an old session are dropped */
  private generation = 0;

  constructor() {
    this.loadMoreBtn.addEventListener('click', () => void this.loadMore());
    this.retryBtn.addEventListener('click', () => void this.loadFirst());
    this.pill.addEventListener('click', () => void this.showPending());
  }

  // ---- live arrivals ----------------------------------------------------------

  /**
   * A tweet that arrived live. Shown at once while the top of the list is in view; otherwise
   * counted on the pill. Returns whether it was shown now.
   */
  arrived(t: Tweet): boolean {
    if (this.views.has(t.id) || this.list.getBoundingClientRect().top >= 0) {
      this.upsert(t, { highlight: true });
      return true;
    }
    this.pending.set(t.id, t);
    if (this.pending.size > MAX_PENDING) {
      this.pendingOverflow = true;
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
    }
    this.refreshPill();
    return false;
  }

  private refreshPill(): void {
    const n = this.pending.size;
    this.pill.textContent = this.pendingOverflow ? 'Many new posts' : n === 1 ? '1 new post' : `${n} new posts`;
    this.pill.setAttribute('aria-label', `${this.pill.textContent}: show them`);
    show(this.pill, n > 0);
  }

  /** The pill was pressed: the waiting tweets go in, the list scrolls to them and focus goes to the newest. */
  async showPending(): Promise<void> {
    const tweets = [...this.pending.values()];
    const overflow = this.pendingOverflow;
    this.pending.clear();
    this.pendingOverflow = false;
    this.refreshPill();
    if (overflow) await this.resync();
    else {
      for (const t of tweets) this.upsert(t, { highlight: true });
      void this.loadSocial(tweets.map((t) => t.id));
    }
    const first = this.list.firstElementChild;
    if (first instanceof HTMLElement) {
      first.scrollIntoView({ block: 'center' });
      first.focus({ preventScroll: true });
    }
  }

  /** The page is Live again: errors about reaching the server no longer hold. */
  recovered(): void {
    for (const v of this.views.values()) v.clearStaleError();
    if (this.staleMessage) void this.loadFirst();
  }

  get size(): number {
    return this.views.size;
  }

  has(id: string): boolean {
    return this.views.has(id);
  }

  /** Empties the timeline for a new session (or none), showing `scope`. */
  reset(me: string | null, scope: TimelineScope = { kind: 'home' }): void {
    this.scope = scope;
    this.generation++;
    this.me = me;
    this.views.clear();
    this.list.replaceChildren();
    this.next = null;
    this.pages = 0;
    this.loading = false;
    this.pending.clear();
    this.pendingOverflow = false;
    this.refreshPill();
    this.setMessage(null);
    show(this.retryBtn, false);
    show(this.loadingEl, false);
    show(this.about, false);
    this.refreshChrome();
  }

  // ---- loading --------------------------------------------------------------

  async loadFirst(): Promise<void> {
    if (this.loading) return;
    const gen = this.generation;
    this.loading = true;
    this.setMessage(null);
    show(this.retryBtn, false);
    show(this.loadingEl, this.views.size === 0);
    this.refreshChrome();
    try {
      const page = await this.firstPage();
      if (gen !== this.generation) return;
      this.applyFirstPage(page);
      void this.loadSocial(page.tweets.map((t) => t.id));
    } catch (err) {
      if (gen !== this.generation || isSessionEnd(err, 'load')) return;
      this.setMessage(`Couldn't load the timeline. ${messageFor(err, 'load')}`, isConnectivity(err));
      show(this.retryBtn, true);
    } finally {
      if (gen === this.generation) {
        this.loading = false;
        show(this.loadingEl, false);
        this.refreshChrome();
      }
    }
  }

  async loadMore(): Promise<void> {
    if (this.loading || this.next === null) return;
    const gen = this.generation;
    this.loading = true;
    this.setMessage(null);
    // Disabling the button drops its focus to the page: remember it, to land on the older tweets.
    const hadFocus = document.activeElement === this.loadMoreBtn;
    this.loadMoreBtn.disabled = true;
    this.loadMoreBtn.textContent = 'Loading…';
    this.loadMoreBtn.setAttribute('aria-busy', 'true');
    const before = this.next;
    try {
      const page =
        this.scope.kind === 'tweet'
          ? await listReplies(this.scope.id, before)
          : this.scope.kind === 'tag'
            ? await listTagged(this.scope.tag, before)
            : await listTweets({ before, ...(this.scope.kind === 'user' ? { username: this.scope.name } : {}) });
      if (gen !== this.generation) return;
      void this.loadSocial(page.tweets.map((t) => t.id));
      const firstNew = page.tweets.find((t) => !this.views.has(t.id));
      for (const t of page.tweets) this.upsert(t, { fromPage: true });
      this.next = page.next;
      this.pages++;
      refreshTimes(this.list);
      // keep keyboard users in place: move focus to the first tweet that came in
      if (firstNew && hadFocus && focusIsIdleOrIn(this.loadMoreBtn)) this.views.get(firstNew.id)?.li.focus();
      if (page.tweets.length === 0) announce('No older tweets.');
    } catch (err) {
      if (gen !== this.generation || isSessionEnd(err, 'load')) return;
      this.setMessage(`Couldn't load older tweets. ${messageFor(err, 'load')}`, isConnectivity(err));
    } finally {
      if (gen === this.generation) {
        this.loading = false;
        this.loadMoreBtn.disabled = false;
        this.loadMoreBtn.textContent = 'Load more';
        this.loadMoreBtn.removeAttribute('aria-busy');
        this.refreshChrome();
      }
    }
  }

  /**
   * Something was missed (a `resync` event, or the live feed was re-opened):
   * fetch the first page again and reconcile it with what is shown.
   */
  async resync(): Promise<void> {
    const gen = this.generation;
    if (this.pages === 0) {
      await this.loadFirst();
      return;
    }
    try {
      const page = await this.firstPage();
      if (gen !== this.generation) return;
      this.applyFirstPage(page);
      void this.loadSocial(page.tweets.map((t) => t.id));
    } catch (err) {
      if (gen !== this.generation || isSessionEnd(err, 'load')) return;
      announce(`Couldn't refresh the timeline. ${messageFor(err, 'load')}`, 'error');
    }
  }

  /**
   * On a post's page (/t/ID), a tweet that arrived live is shown if it replies to that post (the
   * feed does not say what a tweet answers: one read of its social side tells).
   */
  async arrivedOnPostPage(t: Tweet): Promise<void> {
    if (this.scope.kind !== 'tweet' || this.views.has(t.id)) return;
    const post = this.scope.id;
    const gen = this.generation;
    try {
      const s = (await socialOf([t.id]))[t.id];
      if (gen !== this.generation || s?.reply_to !== post) return;
      this.upsert(t, { highlight: true })?.setSocial(s);
      void this.loadSocial([post]);
    } catch {
      // not shown now; a reload lists it
    }
  }

  /** Whether a tweet arriving live belongs in this list. */
  accepts(t: Tweet): boolean {
    if (this.scope.kind === 'tag') return tagsOf(t.content).includes(this.scope.tag);
    return this.scope.kind === 'home' || (this.scope.kind === 'user' && t.username.toLowerCase() === this.scope.name.toLowerCase());
  }

  private async firstPage(): Promise<TweetPage> {
    if (this.scope.kind === 'tweet') {
      // the post, then its replies oldest first (GET /api/tweet/:id/replies), paged by Load more
      const [post, replies] = await Promise.all([getTweet(this.scope.id), listReplies(this.scope.id)]);
      return { tweets: [post, ...replies.tweets], next: replies.next };
    }
    if (this.scope.kind === 'tag') {
      const gen = this.generation;
      const page = await listTagged(this.scope.tag);
      if (gen === this.generation) {
        this.about.textContent = `Posts with #${page.tag}, newest first. Only the newest ${page.max} are listed.`;
        show(this.about, true);
      }
      return page;
    }
    return listTweets(this.scope.kind === 'user' ? { username: this.scope.name } : {});
  }

  /** Counts, likes and what each answers, read after the tweets (GET /api/social); a failure leaves the zeros. */
  async loadSocial(ids: string[]): Promise<void> {
    const gen = this.generation;
    try {
      const social = await socialOf(ids);
      if (gen !== this.generation) return;
      for (const [id, s] of Object.entries(social)) this.views.get(id)?.setSocial(s);
    } catch {
      // the tweets are shown; their counts come with the next load
    }
  }

  /** Merges a fresh first page: adds and updates its tweets, drops the ones it
   * proves deleted (shown, in its range, but absent from it). */
  private applyFirstPage(page: TweetPage): void {
    const first = this.pages === 0;
    const ids = new Set(page.tweets.map((t) => t.id));
    const newest = page.tweets[0];
    const oldest = page.tweets[page.tweets.length - 1];
    if (newest !== undefined && oldest !== undefined) {
      for (const view of [...this.views.values()]) {
        if (ids.has(view.id)) continue;
        // newer than the page: created after it was read, keep it
        if (newer(view.tweet, newest)) continue;
        if (page.next === null || !newer(oldest, view.tweet)) this.remove(view, 'deleted-live');
      }
    }
    for (const t of page.tweets) this.upsert(t, { fromPage: true, highlight: !first });
    if (first || this.pages <= 1 || page.next === null) this.next = page.next;
    if (first) this.pages = 1;
    refreshTimes(this.list);
    this.refreshChrome();
  }

  // ---- changes ----------------------------------------------------------------

  /** Shows a tweet, or updates it in place when it is already shown. */
  upsert(tweet: Tweet, opts: UpsertOptions = {}): TweetView | null {
    const existing = this.views.get(tweet.id);
    if (existing) {
      existing.update(tweet);
      return existing;
    }
    // find the first shown tweet it comes before: the new one goes there
    let before: TweetView | null = null;
    for (const li of this.list.children) {
      const v = this.views.get((li as HTMLElement).dataset.id ?? '');
      if (v && this.precedes(tweet, v.tweet)) {
        before = v;
        break;
      }
    }
    if (before === null && this.next !== null && !opts.fromPage && this.views.size > 0) {
      // older than everything loaded while older pages exist: "load more" will bring it
      return null;
    }
    const view = new TweetView(tweet, this.me, this);
    if (this.scope.kind === 'tweet') view.li.classList.add(tweet.id === this.scope.id ? 'tweet-thread-head' : 'tweet-thread-reply');
    this.views.set(tweet.id, view);
    if (before) this.list.insertBefore(view.li, before.li);
    else this.list.append(view.li);
    if (opts.highlight) highlight(view.li);
    this.refreshChrome();
    return view;
  }

  /** The list's order: newest first; on a post's page (/t/ID) the post, then its replies oldest first. */
  private precedes(a: Tweet, b: Tweet): boolean {
    if (this.scope.kind !== 'tweet') return newer(a, b);
    return a.id === this.scope.id || (b.id !== this.scope.id && newer(b, a));
  }

  /** A reply was posted from a tweet's composer: shown where it belongs, marked as a reply. */
  replied(parent: TweetView, reply: Tweet): void {
    const here = this.scope.kind === 'tweet' ? parent.id === this.scope.id : this.accepts(reply);
    // on the post's page its own reply goes at the end even while older replies wait behind Load more
    if (here) this.upsert(reply, { highlight: true, fromPage: this.scope.kind === 'tweet' });
    // read, not added: the live event of this reply may have counted it already
    void this.loadSocial([parent.id, reply.id]);
  }

  /** A live tweet.updated: only tweets on screen are updated; on a tag's page, one edited out of the tag goes. */
  updateIfShown(tweet: Tweet): void {
    if (this.scope.kind === 'tag' && !this.accepts(tweet)) {
      this.removeById(tweet.id, 'gone');
      return;
    }
    this.views.get(tweet.id)?.update(tweet);
    if (this.pending.has(tweet.id)) this.pending.set(tweet.id, tweet);
  }

  removeById(id: string, reason: RemovalReason): void {
    if (this.pending.delete(id)) this.refreshPill();
    const view = this.views.get(id);
    if (view) this.remove(view, reason);
  }

  remove(view: TweetView, reason: RemovalReason): void {
    if (this.views.get(view.id) !== view) return;
    const li = view.li;
    // Deleting here (its live event may come before the DELETE's answer): focus was on its controls.
    const hadFocus = reason === 'deleted-by-me' || view.pending ? focusIsIdleOrIn(li) : li.contains(document.activeElement);
    const neighbour = (li.nextElementSibling ?? li.previousElementSibling) as HTMLElement | null;
    if (view.editing && reason === 'deleted-live') announce('A tweet you were editing was deleted.', 'error');
    this.views.delete(view.id);
    li.remove();
    this.refreshChrome();
    if (hadFocus) (neighbour ?? byId('compose')).focus();
  }

  private setMessage(text: string | null, stale = false): void {
    this.staleMessage = text !== null && stale;
    this.message.textContent = text ?? '';
    show(this.message, text !== null);
  }

  /** Load more / empty / end-of-list markers. */
  private refreshChrome(): void {
    const loadedOnce = this.pages > 0;
    show(this.loadMoreBtn, loadedOnce && this.next !== null);
    show(this.empty, loadedOnce && this.views.size === 0 && !this.loading);
    show(this.end, loadedOnce && this.next === null && this.views.size > 0);
  }
}

function highlight(li: HTMLElement): void {
  li.classList.add('tweet-new');
  window.setTimeout(() => li.classList.remove('tweet-new'), 4000);
}
