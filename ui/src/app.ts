// Entry point (/js/app.js): decides between the sign-in page and the app, and
// wires the pieces together. Any 401 from a call that needed a session comes
// back here (api.onSessionEnded) and returns to the sign-in page.

import { AccountDialog } from './account.js';
import { logout, me, NetworkError, onSessionEnded, onUnreachable, profile } from './api.js';
import { AuthView, markVisited } from './auth.js';
import { setAvatar } from './avatar.js';
import { Compose } from './compose.js';
import { dismissConfirm } from './confirm.js';
import { byId, show } from './dom.js';
import { Live, type LiveState } from './live.js';
import { messageFor, MSG } from './messages.js';
import { announce, clearStatus } from './status.js';
import { startClock, stopClock } from './time.js';
import { Timeline } from './timeline.js';
import { tagName } from './tokens.js';
import type { User } from './types.js';

const appShell = byId('app');
const bootEl = byId('boot');
const meEl = byId('me');
const meAvatar = byId('me-avatar');
const composeAvatar = byId('compose-avatar');
const logoutBtn = byId('logout', HTMLButtonElement);
const liveEl = byId('live');
const liveText = byId('live-text');
const liveRetry = byId('live-retry');
const liveAnnounce = byId('live-announce');

let user: User | null = null;

const timeline = new Timeline();
const compose = new Compose(timeline);
const auth = new AuthView(signedIn);

const account = new AccountDialog(() => signedOut('Your account was deleted. Your posts stay under your name.', 'info', false));

const LIVE_COPY: Record<LiveState, { text: string; title: string }> = {
  connecting: { text: 'Connecting…', title: 'Connecting to live updates' },
  live: { text: 'Live', title: 'New tweets, edits and deletes appear as they happen' },
  offline: { text: 'Offline', title: 'The server or the cluster cannot be reached; live updates are paused' },
};

/** The text of the connection state: "Offline, retrying in N s" counts down while offline. */
function liveLabel(s: LiveState, retryIn: number | null): string {
  return s === 'offline' && retryIn !== null ? `Offline, retrying in ${retryIn} s` : LIVE_COPY[s].text;
}

/** Offline was announced and the page has not been Live since. */
let wasOffline = false;

const live = new Live({
  created: (t) => {
    void timeline.arrivedOnPostPage(t);
    if (!timeline.accepts(t)) return;
    if (timeline.arrived(t)) void timeline.loadSocial([t.id]);
  },
  updated: (t) => timeline.updateIfShown(t),
  deleted: (id) => timeline.removeById(id, 'deleted-live'),
  resync: () => void timeline.resync(),
  state: (s, retryIn) => {
    liveEl.dataset.state = s;
    liveText.textContent = LIVE_COPY[s].text;
    // the countdown beside the state, so "Offline" stays the state's own word
    liveRetry.textContent = s === 'offline' && retryIn !== null ? `, retrying in ${retryIn} s` : '';
    liveRetry.hidden = liveRetry.textContent === '';
    liveEl.title = LIVE_COPY[s].title + liveRetry.textContent;
    // Announced once when it goes offline and once when it is back, not at every tick of the countdown.
    if (s === 'offline' && !wasOffline) {
      wasOffline = true;
      liveAnnounce.textContent = liveLabel(s, retryIn);
    } else if (s === 'live' && wasOffline) {
      wasOffline = false;
      liveAnnounce.textContent = 'Live again';
      recovered();
    }
  },
  sessionEnded: () => signedOut(MSG.sessionEnded, 'error'),
});

/** Back from Offline: every error that said the server could not be reached is stale now. */
function recovered(): void {
  compose.recovered();
  timeline.recovered();
  if (byId('status').dataset.kind === 'error') clearStatus();
}

onUnreachable(() => live.unreachable());

function signedIn(u: User): void {
  user = u;
  markVisited();
  wasOffline = false;
  liveAnnounce.textContent = '';
  meEl.textContent = u.username;
  setAvatar(meAvatar, u.username);
  setAvatar(composeAvatar, u.username);
  auth.hide();
  show(bootEl, false);
  show(appShell, true);
  clearStatus();
  compose.reset(u.username);
  live.start();
  startClock();
  route();
  compose.focus();
}

const headingEl = byId('timeline-heading');

/** A path segment as written, or null when it does not decode. */
function segment(s: string | undefined): string | null {
  try {
    return decodeURIComponent(s ?? '');
  } catch {
    return null;
  }
}

/** Shows the page the address names: `/` everyone, `/u/NAME` one person, `/t/ID` one post, `/tag/NAME` one tag. */
function route(): void {
  if (user === null) return;
  const path = location.pathname;
  const m = /^\/(u|t|tag)\/([^/]+)$/.exec(path);
  const name = m?.[1] === 'u' ? segment(m[2]) : null;
  const id = m?.[1] === 't' ? segment(m[2]) : null;
  const rawTag = m?.[1] === 'tag' ? segment(m[2]) : null;
  if (rawTag !== null) {
    // the server folds case too; a name that is no tag gets its 400 in the list's message
    const tag = tagName(rawTag) ?? rawTag;
    timeline.reset(user.username, { kind: 'tag', tag });
    headingEl.textContent = `#${tag}`;
    document.title = `#${tag} · tweetdb`;
  } else if (name !== null) {
    timeline.reset(user.username, { kind: 'user', name });
    headingEl.textContent = `@${name}`;
    document.title = `@${name} · tweetdb`;
    void profile(name).then(
      (p) => {
        if (location.pathname === path) headingEl.textContent = `@${p.username} · ${p.tweets} ${p.tweets === 1 ? 'post' : 'posts'}`;
      },
      () => undefined,
    );
  } else if (id !== null) {
    timeline.reset(user.username, { kind: 'tweet', id });
    headingEl.textContent = 'Post';
    document.title = 'Post · tweetdb';
  } else {
    timeline.reset(user.username);
    headingEl.textContent = 'Latest';
    document.title = 'Home · tweetdb';
  }
  void timeline.loadFirst();
}

// Links inside the app change the page without a reload; history and reload give the same page.
document.addEventListener('click', (e) => {
  const a = (e.target as Element | null)?.closest?.('a[data-nav]');
  if (!(a instanceof HTMLAnchorElement) || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  if (a.pathname !== location.pathname) history.pushState(null, '', a.pathname);
  route();
  window.scrollTo(0, 0);
});
window.addEventListener('popstate', route);

/** Back to the sign-in page (logout, or the session ended). */
function signedOut(message: string | null, kind: 'error' | 'info' = 'info', keepUsername = true): void {
  const wasSignedIn = user !== null;
  user = null;
  live.stop();
  stopClock();
  dismissConfirm();
  account.dismiss();
  timeline.reset(null);
  compose.reset();
  meEl.textContent = '';
  show(appShell, false);
  show(bootEl, false);
  // several calls can fail with 401 at once: keep the first message
  if (wasSignedIn || !auth.visible) auth.show(message, kind, keepUsername);
}

onSessionEnded(() => {
  if (user !== null) signedOut(MSG.sessionEnded, 'error');
});

logoutBtn.addEventListener('click', async () => {
  logoutBtn.disabled = true;
  try {
    await logout();
    compose.forgetDraft();
    signedOut(MSG.signedOut, 'info', false);
  } catch (err) {
    if (err instanceof NetworkError) {
      announce(`Couldn't sign out. ${messageFor(err, 'logout')}`, 'error');
    } else {
      // the session is gone or unusable either way
      signedOut(MSG.signedOut, 'info', false);
    }
  } finally {
    logoutBtn.disabled = false;
  }
});

async function boot(): Promise<void> {
  try {
    const u = await me();
    if (u) signedIn(u);
    else signedOut(null);
  } catch (err) {
    signedOut(messageFor(err, 'load'), 'error');
  }
}

void boot();
