// Entry point (/js/app.js): decides between the sign-in page and the app, and
// wires the pieces together. Any 401 from a call that needed a session comes
// back here (api.onSessionEnded) and returns to the sign-in page.

import { logout, me, NetworkError, onSessionEnded } from './api.js';
import { AuthView } from './auth.js';
import { setAvatar } from './avatar.js';
import { Compose } from './compose.js';
import { dismissConfirm } from './confirm.js';
import { byId, show } from './dom.js';
import { Live, type LiveState } from './live.js';
import { messageFor, MSG } from './messages.js';
import { announce, clearStatus } from './status.js';
import { startClock, stopClock } from './time.js';
import { Timeline } from './timeline.js';
import type { User } from './types.js';

const appShell = byId('app');
const bootEl = byId('boot');
const meEl = byId('me');
const meAvatar = byId('me-avatar');
const composeAvatar = byId('compose-avatar');
const logoutBtn = byId('logout', HTMLButtonElement);
const liveEl = byId('live');
const liveText = byId('live-text');

let user: User | null = null;

const timeline = new Timeline();
const compose = new Compose(timeline);
const auth = new AuthView(signedIn);

const LIVE_COPY: Record<LiveState, { text: string; title: string }> = {
  connecting: { text: 'Connecting…', title: 'Connecting to live updates' },
  live: { text: 'Live', title: 'New tweets, edits and deletes appear as they happen' },
  offline: { text: 'Offline', title: 'Live updates are paused; retrying' },
};

const live = new Live({
  created: (t) => {
    timeline.upsert(t, { highlight: true });
  },
  updated: (t) => timeline.updateIfShown(t),
  deleted: (id) => timeline.removeById(id, 'deleted-live'),
  resync: () => void timeline.resync(),
  state: (s) => {
    liveEl.dataset.state = s;
    liveText.textContent = LIVE_COPY[s].text;
    liveEl.title = LIVE_COPY[s].title;
  },
  sessionEnded: () => signedOut(MSG.sessionEnded, 'error'),
});

function signedIn(u: User): void {
  user = u;
  meEl.textContent = u.username;
  setAvatar(meAvatar, u.username);
  setAvatar(composeAvatar, u.username);
  auth.hide();
  show(bootEl, false);
  show(appShell, true);
  document.title = 'Home · tweetdb';
  clearStatus();
  timeline.reset(u.username);
  compose.reset();
  live.start();
  startClock();
  void timeline.loadFirst();
  compose.focus();
}

/** Back to the sign-in page (logout, or the session ended). */
function signedOut(message: string | null, kind: 'error' | 'info' = 'info', keepUsername = true): void {
  const wasSignedIn = user !== null;
  user = null;
  live.stop();
  stopClock();
  dismissConfirm();
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
