// The account dialog (<dialog id="account">): change the password (every
// other session ends, in the same transaction) or delete the account (every
// session ends; the tweets stay under a name nobody else can take).

import { ApiError, changePassword, closeAccount } from './api.js';
import { byId, show } from './dom.js';
import { isSessionEnd, messageFor } from './messages.js';
import { announce } from './status.js';

function wrongPassword(err: unknown): boolean {
  return err instanceof ApiError && err.code === 'FORBIDDEN';
}

export class AccountDialog {
  private readonly dialog = byId('account', HTMLDialogElement);
  private readonly current = byId('current-password', HTMLInputElement);
  private readonly next = byId('new-password', HTMLInputElement);
  private readonly passwordMessage = byId('password-message');
  private readonly passwordSubmit = byId('password-submit', HTMLButtonElement);
  private readonly closePassword = byId('close-password', HTMLInputElement);
  private readonly closeMessage = byId('close-message');
  private readonly closeSubmit = byId('close-submit', HTMLButtonElement);

  /** `closed`: the account is gone; the app goes back to the sign-in page. */
  constructor(private readonly closed: () => void) {
    byId('account-open').addEventListener('click', () => this.open());
    byId('account-close').addEventListener('click', () => this.dialog.close());
    byId('password-form', HTMLFormElement).addEventListener('submit', (e) => {
      e.preventDefault();
      void this.change();
    });
    byId('close-form', HTMLFormElement).addEventListener('submit', (e) => {
      e.preventDefault();
      void this.close();
    });
    for (const [input, message] of [
      [this.current, this.passwordMessage],
      [this.next, this.passwordMessage],
      [this.closePassword, this.closeMessage],
    ] as const) {
      input.addEventListener('input', () => {
        input.removeAttribute('aria-invalid');
        setMessage(message, null);
      });
    }
  }

  open(): void {
    for (const input of [this.current, this.next, this.closePassword]) input.value = '';
    setMessage(this.passwordMessage, null);
    setMessage(this.closeMessage, null);
    this.dialog.showModal();
    this.current.focus();
  }

  dismiss(): void {
    if (this.dialog.open) this.dialog.close();
  }

  private async change(): Promise<void> {
    if (this.current.value === '') return this.invalid(this.current, this.passwordMessage, 'Enter your current password.');
    if ([...this.next.value].length < 8) return this.invalid(this.next, this.passwordMessage, 'Use a new password of at least 8 characters.');
    this.passwordSubmit.disabled = true;
    try {
      await changePassword(this.current.value, this.next.value);
      this.dialog.close();
      announce('Password changed. Every other place you were signed in is signed out.', 'success');
    } catch (err) {
      if (isSessionEnd(err, 'load')) return;
      if (wrongPassword(err)) this.invalid(this.current, this.passwordMessage, 'That is not your current password.');
      else setMessage(this.passwordMessage, messageFor(err, 'register'));
    } finally {
      this.passwordSubmit.disabled = false;
    }
  }

  private async close(): Promise<void> {
    if (this.closePassword.value === '') return this.invalid(this.closePassword, this.closeMessage, 'Enter your password to delete your account.');
    this.closeSubmit.disabled = true;
    try {
      await closeAccount(this.closePassword.value);
      this.dialog.close();
      this.closed();
    } catch (err) {
      if (isSessionEnd(err, 'load')) return;
      if (wrongPassword(err)) this.invalid(this.closePassword, this.closeMessage, 'That is not your password.');
      else setMessage(this.closeMessage, messageFor(err, 'register'));
    } finally {
      this.closeSubmit.disabled = false;
    }
  }

  private invalid(input: HTMLInputElement, message: HTMLElement, text: string): void {
    input.setAttribute('aria-invalid', 'true');
    setMessage(message, text);
    input.focus();
  }
}

function setMessage(el: HTMLElement, text: string | null): void {
  el.textContent = text ?? '';
  show(el, text !== null);
}
