// The sign-in page: one form with two modes, "Sign in" and "Create account"
// (#auth-switch toggles; #auth-submit says which). Creating an account signs
// you in, as the server does. A browser that has never signed in here opens
// on "Create account" (a first visit is not "Welcome back").

import { ApiError, login, register } from './api.js';
import { byId, show } from './dom.js';
import { messageFor } from './messages.js';
import type { User } from './types.js';

export type AuthMode = 'signin' | 'register';

const USERNAME_RE = /^[A-Za-z0-9_]{1,32}$/;
/** Set in localStorage once anyone has signed in with this browser. */
const VISITED_KEY = 'tweetdb.visited';

function hasVisited(): boolean {
  try {
    return window.localStorage.getItem(VISITED_KEY) !== null;
  } catch {
    return false;
  }
}

/** Remembers that this browser has been signed in (the sign-in page then opens on "Sign in"). */
export function markVisited(): void {
  try {
    window.localStorage.setItem(VISITED_KEY, '1');
  } catch {
    // refused: the next visit opens on "Create account", which has a link to sign in
  }
}

const COPY = {
  signin: {
    title: 'Sign in to tweetdb',
    lead: 'Welcome back. Your timeline is waiting.',
    submit: 'Sign in',
    busy: 'Signing in…',
    switchLead: 'New to tweetdb?',
    switchText: 'Create account',
    passwordAutocomplete: 'current-password',
    docTitle: 'Sign in · tweetdb',
  },
  register: {
    title: 'Join tweetdb',
    lead: 'Create an account to post and follow the conversation: pick a username and a password, and you are in.',
    submit: 'Create account',
    busy: 'Creating account…',
    switchLead: 'Already have an account?',
    switchText: 'Sign in',
    passwordAutocomplete: 'new-password',
    docTitle: 'Create account · tweetdb',
  },
} as const;

export class AuthView {
  private readonly shell = byId('signin');
  private readonly form = byId('auth-form', HTMLFormElement);
  private readonly title = byId('auth-title');
  private readonly lead = byId('auth-lead');
  private readonly username = byId('username', HTMLInputElement);
  private readonly password = byId('password', HTMLInputElement);
  private readonly usernameHint = byId('username-hint');
  private readonly passwordHint = byId('password-hint');
  private readonly submit = byId('auth-submit', HTMLButtonElement);
  private readonly switchBtn = byId('auth-switch', HTMLButtonElement);
  private readonly switchLead = byId('auth-switch-lead');
  private readonly message = byId('auth-message');

  private mode: AuthMode = 'signin';
  private busy = false;
  private lockedUntil = 0;
  private unlockTimer: number | null = null;

  constructor(private readonly onSignedIn: (user: User) => void) {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.send();
    });
    this.switchBtn.addEventListener('click', () => {
      this.setMode(this.mode === 'signin' ? 'register' : 'signin');
      this.setMessage(null);
      this.username.focus();
    });
    for (const input of [this.username, this.password]) {
      input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
    }
    this.setMode(hasVisited() ? 'signin' : 'register');
  }

  get visible(): boolean {
    return !this.shell.hidden;
  }

  /** Shows the sign-in page, optionally with a message (e.g. session ended). */
  show(message: string | null = null, kind: 'error' | 'info' = 'info', keepUsername = true): void {
    show(this.shell, true);
    this.setMode(hasVisited() ? 'signin' : 'register');
    if (!keepUsername) this.username.value = '';
    this.password.value = '';
    this.username.removeAttribute('aria-invalid');
    this.password.removeAttribute('aria-invalid');
    this.setBusy(false);
    this.setMessage(message, kind);
    document.title = COPY[this.mode].docTitle;
    (this.username.value === '' ? this.username : this.password).focus();
  }

  hide(): void {
    show(this.shell, false);
    this.setMessage(null);
    this.password.value = '';
  }

  setMode(mode: AuthMode): void {
    this.mode = mode;
    const c = COPY[mode];
    this.form.dataset.mode = mode;
    this.title.textContent = c.title;
    this.lead.textContent = c.lead;
    this.submit.textContent = this.busy ? c.busy : c.submit;
    this.switchLead.textContent = c.switchLead;
    this.switchBtn.textContent = c.switchText;
    this.password.autocomplete = c.passwordAutocomplete;
    show(this.usernameHint, mode === 'register');
    show(this.passwordHint, mode === 'register');
    if (!this.shell.hidden) document.title = c.docTitle;
  }

  private setMessage(text: string | null, kind: 'error' | 'info' = 'error'): void {
    this.message.textContent = text ?? '';
    this.message.dataset.kind = kind;
    show(this.message, text !== null);
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    this.form.setAttribute('aria-busy', String(busy));
    this.submit.disabled = busy || Date.now() < this.lockedUntil;
    this.switchBtn.disabled = busy;
    this.submit.textContent = busy ? COPY[this.mode].busy : COPY[this.mode].submit;
  }

  /** Client-side checks; the server checks again. Returns the bad field. */
  private validate(): HTMLInputElement | null {
    const u = this.username.value;
    const p = this.password.value;
    if (u === '') return this.invalid(this.username, 'Enter your username.');
    if (!USERNAME_RE.test(u)) {
      return this.invalid(this.username, 'Usernames are 1 to 32 letters, digits or underscores.');
    }
    if (p === '') return this.invalid(this.password, 'Enter your password.');
    if (this.mode === 'register' && [...p].length < 8) return this.invalid(this.password, 'Use a password of at least 8 characters.');
    if ([...p].length > 200) return this.invalid(this.password, 'Passwords are at most 200 characters.');
    return null;
  }

  private invalid(input: HTMLInputElement, message: string): HTMLInputElement {
    input.setAttribute('aria-invalid', 'true');
    this.setMessage(message);
    input.focus();
    return input;
  }

  private async send(): Promise<void> {
    if (this.busy || Date.now() < this.lockedUntil) return;
    this.username.removeAttribute('aria-invalid');
    this.password.removeAttribute('aria-invalid');
    if (this.validate() !== null) return;
    const mode = this.mode;
    const username = this.username.value;
    const password = this.password.value;
    this.setMessage(null);
    this.setBusy(true);
    try {
      const user = mode === 'register' ? await register(username, password) : await login(username, password);
      this.setBusy(false);
      this.onSignedIn(user);
    } catch (err) {
      this.setBusy(false);
      const action = mode === 'register' ? 'register' : 'signin';
      this.setMessage(messageFor(err, action));
      if (err instanceof ApiError) {
        if (err.code === 'RATE_LIMITED') this.lockFor(err.retryAfter ?? 30);
        else if (err.code === 'EXISTS') this.flag(this.username);
        else if (err.code === 'UNAUTHENTICATED') this.flag(this.password, true);
        else if (err.code === 'INVALID') this.flag(/password/i.test(err.detail) ? this.password : this.username);
      }
    }
  }

  private flag(input: HTMLInputElement, select = false): void {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    if (select) input.select();
  }

  /** After 429: keep the button disabled until Retry-After has passed. */
  private lockFor(seconds: number): void {
    this.lockedUntil = Date.now() + seconds * 1000;
    this.submit.disabled = true;
    if (this.unlockTimer !== null) window.clearTimeout(this.unlockTimer);
    this.unlockTimer = window.setTimeout(() => {
      this.unlockTimer = null;
      this.lockedUntil = 0;
      this.submit.disabled = this.busy;
    }, seconds * 1000);
  }
}
