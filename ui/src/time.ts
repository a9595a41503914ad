// Relative times ("2 min ago") with the absolute time as a tooltip, and one
// clock that refreshes every <time data-relative> on the page each minute.

const absoluteFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const sameYearFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const otherYearFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', year: 'numeric' });

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

export function absolute(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : absoluteFmt.format(d);
}

export function relative(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const ago = now - t;
  if (ago < 45_000) return 'just now';
  if (ago < HOUR) return `${Math.max(1, Math.round(ago / MIN))} min ago`;
  if (ago < DAY) return `${Math.floor(ago / HOUR)} h ago`;
  if (ago < 7 * DAY) {
    const d = Math.floor(ago / DAY);
    return d === 1 ? 'yesterday' : `${d} days ago`;
  }
  const date = new Date(t);
  return (date.getFullYear() === new Date(now).getFullYear() ? sameYearFmt : otherYearFmt).format(date);
}

/** Fills a <time> element: datetime attribute, relative text, absolute title. */
export function setTime(el: HTMLTimeElement, iso: string): void {
  el.dateTime = iso;
  el.dataset.relative = '';
  el.title = absolute(iso);
  el.textContent = relative(iso);
}

export function refreshTimes(root: ParentNode = document): void {
  const now = Date.now();
  for (const el of root.querySelectorAll<HTMLTimeElement>('time[data-relative]')) {
    const text = relative(el.dateTime, now);
    if (el.textContent !== text) el.textContent = text;
  }
}

let clock: number | null = null;

/** Starts the once-a-minute refresh (and refreshes when the tab comes back). */
export function startClock(): void {
  if (clock !== null) return;
  clock = window.setInterval(() => refreshTimes(), MIN);
  document.addEventListener('visibilitychange', onVisible);
}

export function stopClock(): void {
  if (clock !== null) window.clearInterval(clock);
  clock = null;
  document.removeEventListener('visibilitychange', onVisible);
}

function onVisible(): void {
  if (document.visibilityState === 'visible') refreshTimes();
}
