// What to tell a person when a call fails. The wording for the cases the
// contract names is fixed here, once.

import { ApiError, NetworkError } from './api.js';

export const MSG = {
  sessionEnded: 'Your session ended. Sign in again.',
  locked: 'Someone is editing this tweet right now. Try again in a moment.',
  unavailable: "A storage node is down, so changes can't be saved right now. Try again shortly.",
  unknownOutcome: "We couldn't confirm your tweet was saved. Retrying…",
  unknownOutcomeGaveUp: "We still couldn't confirm your tweet was saved. Retry to make sure — it won't be posted twice.",
  unreachable: "Can't reach the server. Check your connection and try again.",
  settling: 'Your earlier attempt at this post is still being settled by the storage nodes. Trying again by itself…',
  settlingGaveUp: 'Your earlier attempt at this post is still being settled. Post again in a moment — it won\'t be posted twice.',
  slow: 'Still trying: a storage node is slow to answer.',
  signedOut: "You're signed out.",
} as const;

export type Action = 'post' | 'edit' | 'delete' | 'load' | 'signin' | 'register' | 'logout';

function seconds(n: number): string {
  return n === 1 ? '1 second' : `${n} seconds`;
}

/** A sentence for a person about why `action` failed with `err`. */
export function messageFor(err: unknown, action: Action): string {
  if (err instanceof NetworkError) return MSG.unreachable;
  if (!(err instanceof ApiError)) return 'Something went wrong. Try again.';
  switch (err.code) {
    case 'UNAUTHENTICATED':
      if (action === 'signin') return 'Wrong username or password.';
      return MSG.sessionEnded;
    case 'LOCKED':
      return MSG.locked;
    case 'UNAVAILABLE':
      return action === 'load' ? 'A storage node is down. Try again shortly.' : MSG.unavailable;
    case 'UNKNOWN_OUTCOME':
    case 'TIMEOUT':
      if (action === 'post') return MSG.unknownOutcome;
      if (action === 'edit') return "We couldn't confirm your edit was saved. Reload to check, then try again.";
      if (action === 'delete') return "We couldn't confirm the tweet was deleted. Try again.";
      return 'The server took too long to answer. Try again.';
    case 'RATE_LIMITED': {
      const wait = err.retryAfter !== null ? ` Try again in ${seconds(err.retryAfter)}.` : ' Try again in a moment.';
      return (action === 'signin' || action === 'register' ? 'Too many sign-in attempts.' : 'Too many requests.') + wait;
    }
    case 'FORBIDDEN':
      if (action === 'edit') return 'You can only edit your own tweets.';
      if (action === 'delete') return 'You can only delete your own tweets.';
      return err.detail || "You're not allowed to do that.";
    case 'NOT_FOUND':
      if (action === 'edit' || action === 'delete') return 'This tweet no longer exists.';
      return err.detail || 'Not found.';
    case 'EXISTS':
      return action === 'register' ? 'That username is taken. Pick another one.' : err.detail || 'That already exists.';
    case 'TOO_LARGE':
      return 'That is too long: tweets are at most 280 characters.';
    case 'CROSS_ORIGIN':
      return 'The server refused a request from another origin. Reload the page.';
    case 'INVALID':
      return err.detail || 'The server refused that input.';
    default:
      return err.detail ? `${err.detail}` : 'Something went wrong on the server. Try again.';
  }
}

/** Did the call fail for want of a server or a storage node? (such errors are stale once the page is Live again) */
export function isConnectivity(err: unknown): boolean {
  return err instanceof NetworkError || (err instanceof ApiError && err.code === 'UNAVAILABLE');
}

/** Did the call fail because the session ended? (the app already handled it) */
export function isSessionEnd(err: unknown, action: Action): boolean {
  return err instanceof ApiError && err.status === 401 && action !== 'signin' && action !== 'register';
}
