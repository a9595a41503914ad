// Tiny DOM helpers. Text is only ever set with textContent: nothing here
// parses HTML, so user data can never become markup.

type Attrs = Record<string, string | boolean | undefined>;
type Child = Node | string | null | undefined | false;

/** Creates an HTML element: h('p', {class: 'x'}, 'text', otherNode). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'style' || k.startsWith('on')) throw new Error(`h(): refusing attribute ${k}`);
    el.setAttribute(k, v === true ? '' : v);
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** A small stroked 24×24 icon from path data, hidden from screen readers. */
export function icon(paths: string[], cls = 'icon'): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', cls);
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of paths) {
    const p = document.createElementNS(SVG_NS, 'path');
    p.setAttribute('d', d);
    svg.append(p);
  }
  return svg;
}

export const ICONS = {
  edit: ['M4 20h4L19 9a2.83 2.83 0 0 0-4-4L4 16v4Z', 'M13.5 6.5l4 4'],
  trash: ['M4 7h16', 'M10 11v6', 'M14 11v6', 'M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12', 'M9 7V4h6v3'],
} as const;

/** The element with this id; throws when the page is not the one we expect. */
export function byId<T extends HTMLElement = HTMLElement>(id: string, type?: new () => T): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} is missing from the page`);
  if (type && !(el instanceof type)) throw new Error(`#${id} is not a ${type.name}`);
  return el as T;
}

/** Shows or hides an element with the hidden attribute. */
export function show(el: HTMLElement, visible: boolean): void {
  el.hidden = !visible;
}

export function isMac(): boolean {
  return /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
}
