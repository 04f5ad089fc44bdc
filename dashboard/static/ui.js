// ui.js: building DOM nodes and formatting numbers, amounts, times and ids.
// Everything the API returns is put into the page as text, never as HTML.

// el builds an element: el('a', {href: '#/'}, 'text', child, ...). Attributes
// starting with "on" are event listeners; class and dataset work as usual.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(e, c);
    else e.append(c instanceof Node ? c : String(c));
  }
}

// clear empties a node and fills it with children.
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export const USTR_PER_STR = 1000000n;

// big parses a decimal string (or number) as a BigInt; bad input is 0n.
export function big(v) {
  try { return BigInt(v ?? 0); } catch { return 0n; }
}

// group puts thousands separators in a string of digits.
export function group(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

// str formats an amount in ustr as STR: "1,250.5 STR". Up to six decimals,
// trailing zeros dropped.
export function str(ustr, unit = ' STR') {
  const v = big(ustr);
  const neg = v < 0n;
  const a = neg ? -v : v;
  const whole = group((a / USTR_PER_STR).toString());
  let frac = (a % USTR_PER_STR).toString().padStart(6, '0').replace(/0+$/, '');
  return (neg ? '-' : '') + whole + (frac ? '.' + frac : '') + unit;
}

// num formats an integer (number, BigInt or decimal string) with separators.
export function num(v) {
  if (v === undefined || v === null || v === '') return '–';
  return group(big(v).toString());
}

// bytes formats a byte count: "1 TiB", "512 MiB".
export function bytes(v) {
  let n = Number(big(v));
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0).replace(/\.0+$/, '')) + ' ' + units[i];
}

// quantity formats a lease or offer quantity: bytes for storage, cu for
// compute.
export function quantity(cls, v) {
  return cls === 'storage' ? bytes(v) : num(v) + ' cu';
}

// Prices are nano-ustr per unit-second; people think in STR per GiB-month
// (storage) and STR per cu-hour (compute).
const MONTH = 30 * 24 * 3600;
export function price(cls, nanoPerSecond) {
  const n = Number(big(nanoPerSecond));
  if (cls === 'storage') return fixed(n * MONTH / 1e15) + ' STR/GiB-month';
  return fixed(n * 3600 / 1e15) + ' STR/cu-hour';
}

// priceValue is the number price() shows, for charts.
export function priceValue(cls, nanoPerSecond) {
  const n = Number(big(nanoPerSecond));
  return cls === 'storage' ? n * MONTH / 1e15 : n * 3600 / 1e15;
}

// fixed prints a float with enough significant digits to read.
export function fixed(x) {
  if (!isFinite(x)) return '–';
  if (x === 0) return '0';
  const d = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 1 ? 2 : Math.min(8, 2 - Math.floor(Math.log10(Math.abs(x))));
  return x.toLocaleString('en-US', {maximumFractionDigits: d});
}

// rate formats nano-ustr per second as STR per day.
export function ratePerDay(nanoPerSecond) {
  return str(big(nanoPerSecond) * 86400n / 1000000000n) + "/day";
}

export function pct(bps) {
  return (Number(bps) / 100).toLocaleString('en-US', {maximumFractionDigits: 2}) + '%';
}

// ago says how long before now t (a Date, ISO string or unix ms) was:
// "4 s ago", "3 min ago", "2 h ago", or a date.
export function ago(t) {
  const ms = toMs(t);
  if (!ms) return '–';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 0) return 'in ' + span(-s);
  return span(s) + ' ago';
}

// span formats a number of seconds: "45 s", "12 min", "3 h 5 min", "4 d 2 h".
export function span(s) {
  s = Math.max(0, Math.round(s));
  if (s < 90) return s + ' s';
  const m = Math.round(s / 60);
  if (m < 90) return m + ' min';
  const h = Math.floor(s / 3600);
  if (h < 48) return h + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  const d = Math.floor(s / 86400);
  if (d > 3650) return 'over 10 years';
  return d + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
}

export function toMs(t) {
  if (t === undefined || t === null || t === '' || t === 0) return 0;
  if (typeof t === 'number') return t;
  const ms = Date.parse(t);
  return isNaN(ms) ? 0 : ms;
}

// when is a relative time with the exact one as its tooltip; it updates
// itself every few seconds (see tick).
export function when(t) {
  const ms = toMs(t);
  if (!ms) return el('span', {class: 'muted'}, '–');
  return el('time', {datetime: new Date(ms).toISOString(), title: new Date(ms).toLocaleString(), class: 'rel', dataset: {ms}}, ago(ms));
}

// tick refreshes every relative time on the page.
export function tick() {
  for (const e of document.querySelectorAll('time.rel')) e.textContent = ago(Number(e.dataset.ms));
  for (const e of document.querySelectorAll('[data-until]')) {
    e.textContent = span((Number(e.dataset.until) - Date.now()) / 1000);
  }
}

// short shortens a did:key or a hash to its start and end.
export function short(v) {
  v = String(v ?? '');
  const body = v.startsWith('did:key:') ? v.slice(8) : v;
  return body.length <= 16 ? body : body.slice(0, 8) + '…' + body.slice(-6);
}

// id shows a did:key or hash in monospace, shortened, linked to href when
// given, with a button that copies the whole value.
export function id(value, href) {
  if (!value) return el('span', {class: 'muted'}, '–');
  const text = short(value);
  const label = href ? el('a', {href, title: value}, text) : el('span', {title: value}, text);
  const btn = el('button', {class: 'copy', type: 'button', title: 'Copy ' + value, 'aria-label': 'Copy',
    onclick: (ev) => { ev.preventDefault(); copy(value, btn); }}, copyIcon());
  return el('span', {class: 'id'}, label, btn);
}

export function account(did) {
  // Splits name two payees by role rather than address.
  if (did === 'treasury' || did === 'provider') return el('span', {class: 'tag'}, did === 'provider' ? 'the provider' : 'treasury');
  return id(did, '#/accounts/' + encodeURIComponent(did));
}

async function copy(text, btn) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Outside a secure context: copy through a hidden text area.
    const t = el('textarea', {class: 'offscreen'}, text);
    document.body.append(t);
    t.select();
    document.execCommand('copy');
    t.remove();
  }
  btn.replaceChildren('✓');
  setTimeout(() => btn.replaceChildren(copyIcon()), 1200);
}

// copyIcon is two overlapping squares, drawn rather than a glyph that
// some fonts lack.
function copyIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('width', '12');
  svg.setAttribute('height', '12');
  svg.setAttribute('aria-hidden', 'true');
  for (const [x, y] of [[5, 5], [2, 2]]) {
    const r = document.createElementNS(ns, 'rect');
    for (const [k, v] of Object.entries({x, y, width: 9, height: 9, rx: 2, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5})) r.setAttribute(k, v);
    svg.append(r);
  }
  return svg;
}

// table builds a scrolling table: heads is a list of column names, rows a
// list of lists of cells. Columns named in numeric are right-aligned.
export function table(heads, rows, {empty = 'Nothing yet.', numeric = [], id: tid} = {}) {
  if (!rows.length) return el('p', {class: 'empty', id: tid}, empty);
  const num = new Set(numeric);
  return el('div', {class: 'table-wrap'},
    el('table', {id: tid},
      el('thead', {}, el('tr', {}, heads.map((h) => el('th', {class: num.has(h) ? 'num' : ''}, h)))),
      el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c, i) => el('td', {class: num.has(heads[i]) ? 'num' : ''}, c)))))));
}

// card is a titled panel.
export function card(title, ...body) {
  return el('section', {class: 'card'}, title ? el('h2', {}, title) : null, ...body);
}

// stat is a big figure with a label; the value element gets id.
export function stat(label, value, {id: sid, sub} = {}) {
  return el('div', {class: 'stat'}, el('div', {class: 'label'}, label), el('div', {class: 'value', id: sid}, value),
    sub ? el('div', {class: 'sub'}, sub) : null);
}

// kv is a definition list of [label, value] pairs.
export function kv(pairs) {
  return el('dl', {class: 'kv'}, pairs.filter(Boolean).map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

export function badge(text, kind = '') {
  return el('span', {class: 'badge ' + kind}, text);
}

export function stateBadge(state) {
  const kind = {active: 'ok', pending: 'warn', grace: 'warn', closed: '', retiring: 'warn', exhausted: 'bad', suspended: 'bad', removed: ''}[state] ?? '';
  return badge(state || '–', kind);
}

export function codeBadge(code) {
  return Number(code) === 0 ? badge('ok', 'ok') : badge('failed (' + code + ')', 'bad');
}

// bar is a horizontal bar of fraction f (0..1).
export function bar(f, label) {
  const fill = el('div', {class: 'fill'});
  // Set through the CSSOM: the Content-Security-Policy refuses style
  // attributes.
  fill.style.width = (Math.max(0, Math.min(1, f)) * 100).toFixed(1) + '%';
  return el('div', {class: 'bar', title: label || ''}, fill);
}

export function errorBox(err) {
  return el('div', {class: 'error'}, el('strong', {}, 'Could not load this page. '), String(err?.message || err));
}

// heading sets the page's heading and the document title.
export function heading(text, ...extra) {
  document.title = text + ' · Stratus';
  return el('div', {class: 'page-head'}, el('h1', {}, text), ...extra);
}

// blockHadTxs says whether a block may have changed what a page shows; a
// polled block (no txs field) may have.
export const blockHadTxs = (b) => b.txs === undefined || b.txs > 0;
export const always = () => true;

// roles maps an event type to what each of its attributes names
// ("account", "amount", "lease", "object", "deployment"), as the node
// declares them at GET /v1/events/kinds.
const roles = new Map();

// loadEventKinds reads the node's event declarations; an older node
// without them leaves the attributes to be recognized by their values.
export async function loadEventKinds(get) {
  try {
    const {kinds} = await get('/v1/events/kinds');
    for (const k of kinds || []) roles.set(k.type, new Map((k.attrs || []).map((a) => [a.key, a.role || ''])));
  } catch { /* not served: fall back */ }
}

// attrList shows the attributes of an event of type (an object, or a list
// of {key, value}), linking what they name and formatting amounts.
export function attrList(attrs, type) {
  const pairs = Array.isArray(attrs) ? attrs.map((a) => [a.key, a.value]) : Object.entries(attrs || {});
  const kind = roles.get(type);
  return el('span', {class: 'attrs'}, pairs.map(([k, v]) =>
    el('span', {class: 'attr'}, el('span', {class: 'k'}, k), ' ', attrValue(kind ? kind.get(k) : undefined, v))));
}

function attrValue(role, v) {
  v = String(v);
  switch (role) {
  case 'account': return account(v);
  case 'amount': return /^\d+$/.test(v) ? str(v) : v;
  case 'lease': return el('a', {href: '#/leases/' + encodeURIComponent(v)}, '#' + v);
  case 'object': return id(v, '#/objects/' + encodeURIComponent(v));
  case 'deployment': return el('a', {href: '#/functions/' + encodeURIComponent(v)}, '#' + v);
  }
  // An undeclared attribute: recognize accounts and hashes by their form.
  if (v.startsWith('did:key:')) return account(v);
  if (/^[0-9a-f]{64}$/.test(v)) return id(v);
  return v;
}

// attrsOf turns event attributes of either shape into an object.
export function attrsOf(attrs) {
  return Array.isArray(attrs) ? Object.fromEntries(attrs.map((a) => [a.key, a.value])) : (attrs || {});
}

