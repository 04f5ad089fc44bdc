// api.js: reading the node's REST API, and the live feed of blocks and
// audit events.

// ApiError is a failed request, with the problem's status and detail.
export class ApiError extends Error {
  constructor(status, detail, path) {
    super(detail || `HTTP ${status} from ${path}`);
    this.status = status;
    this.path = path;
  }
}

// get fetches path (under the node's origin) and returns its JSON; it
// throws an ApiError with the problem's detail for any other status.
export async function get(path) {
  const r = await fetch(path, {headers: {Accept: 'application/json'}});
  if (!r.ok) {
    let detail = '';
    try { detail = (await r.json()).detail; } catch { /* not a problem document */ }
    throw new ApiError(r.status, detail, path);
  }
  return r.json();
}

// maybe is get that answers null for 404: for routes an older node lacks
// and records that are not there.
export async function maybe(path) {
  try {
    return await get(path);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

// all fetches every page of a list endpoint, up to max items.
export async function all(path, max = 1000) {
  const items = [];
  let after = '';
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(path + sep + 'limit=100' + (after ? '&after=' + encodeURIComponent(after) : ''));
    items.push(...page.items);
    if (!page.next || items.length >= max) return items;
    after = page.next;
  }
}

export const enc = encodeURIComponent;

// Live is the feed of new blocks and audit events. It listens to the
// node's server-sent events at /v1/events; if the node has no stream, or
// it fails, it polls /v1/status every two seconds and reports blocks only.
// Listeners get 'block' events ({height, time, txs, ...}) and 'audit'
// events (one /v1/audit/events item), and 'mode' when it switches.
export class Live extends EventTarget {
  constructor() {
    super();
    this.mode = 'connecting';
    this.height = 0;
    this.start();
  }

  start() {
    if (!window.EventSource) return this.poll();
    const es = new EventSource('/v1/events');
    let opened = false;
    es.onopen = () => { opened = true; this.setMode('live'); };
    es.addEventListener('block', (m) => this.block(JSON.parse(m.data)));
    es.addEventListener('audit', (m) => this.dispatchEvent(new CustomEvent('audit', {detail: JSON.parse(m.data)})));
    es.onerror = () => {
      // EventSource reconnects by itself after a dropped stream; a stream
      // that never opened (no such route, or a proxy in the way) is
      // replaced by polling.
      if (!opened) {
        es.close();
        this.poll();
      } else {
        this.setMode('reconnecting');
      }
    };
  }

  poll() {
    this.setMode('polling');
    const once = async () => {
      try {
        const s = await get('/v1/status');
        if (s.height > this.height) this.block({height: s.height, time: s.latest_block_time});
      } catch { /* the node is down; try again */ }
    };
    once();
    setInterval(once, 2000);
  }

  block(b) {
    this.height = Math.max(this.height, b.height);
    this.dispatchEvent(new CustomEvent('block', {detail: b}));
  }

  setMode(m) {
    this.mode = m;
    this.dispatchEvent(new CustomEvent('mode', {detail: m}));
  }
}
