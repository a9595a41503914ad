// The delete confirmation: the native <dialog id="confirm-delete">, opened
// modally. Resolves true only when "Delete" is chosen; Escape, "Cancel" and
// closing any other way resolve false. The dialog's focus handling is the
// browser's: it focuses the autofocus button and gives focus back on close.

import { byId } from './dom.js';

let wired = false;
let pending: ((yes: boolean) => void) | null = null;

function wire(dialog: HTMLDialogElement): void {
  if (wired) return;
  wired = true;
  byId('confirm-delete-yes').addEventListener('click', () => dialog.close('yes'));
  byId('confirm-delete-no').addEventListener('click', () => dialog.close('no'));
  dialog.addEventListener('close', () => {
    const resolve = pending;
    pending = null;
    resolve?.(dialog.returnValue === 'yes');
  });
  // a click on the backdrop (outside the dialog box) cancels
  dialog.addEventListener('click', (e) => {
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
    if (!inside) dialog.close('no');
  });
}

export function confirmDelete(preview: string): Promise<boolean> {
  const dialog = byId('confirm-delete', HTMLDialogElement);
  wire(dialog);
  if (dialog.open) dialog.close('no');
  byId('confirm-delete-preview').textContent = preview;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    pending = resolve;
    dialog.showModal();
  });
}

/** Closes the dialog if it is open (sign-out while it is showing). */
export function dismissConfirm(): void {
  const dialog = document.getElementById('confirm-delete');
  if (dialog instanceof HTMLDialogElement && dialog.open) dialog.close('no');
}
