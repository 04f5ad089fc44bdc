// app.js: the dashboard's shell: hash routing, the live feed, and the
// pages of the chain itself (overview, blocks, transactions, accounts).
// The market's pages are in market.js and the audit log's in auditlog.js.

import {el, fill, str, num, when, tick, id, account, table, card, stat, kv, codeBadge, bar, errorBox, big, fixed, heading, blockHadTxs, always, attrList, attrsOf, loadEventKinds} from './ui.js';
import {get, maybe, all, enc, Live} from './api.js';
import * as market from './market.js';
import * as auditlog from './auditlog.js';

const live = new Live();

// Page is what a page's render function gets: where to draw, the route's
// parameters and query, and on(), which subscribes to the live feed until
// the page is left.
class Page {
  constructor(main, params, query) {
    this.main = main;
    this.params = params;
    this.query = query;
    this.offs = [];
  }

  on(type, f) {
    const h = (e) => f(e.detail);
    live.addEventListener(type, h);
    this.offs.push(() => live.removeEventListener(type, h));
  }

  // show fills the page, unless the reader has moved on while it loaded.
  show(...children) {
    if (!this.left) fill(this.main, ...children);
  }

  leave() {
    this.left = true;
    for (const off of this.offs) off();
  }

  // section is a part of the page that loader fills, again after new
  // blocks when refresh is given (a predicate on the block), at most once
  // every two seconds.
  section(loader, refresh) {
    const box = el('div', {class: 'section'}, el('p', {class: 'loading'}, 'Loading…'));
    let busy = false, again = false, timer = 0, last = 0;
    const run = async () => {
      if (this.left) return;
      if (busy) { again = true; return; }
      busy = true;
      last = Date.now();
      try {
        const content = await loader();
        if (!this.left) fill(box, content);
      } catch (e) {
        if (!this.left) fill(box, errorBox(e));
      }
      busy = false;
      if (again) { again = false; schedule(); }
    };
    const schedule = () => {
      clearTimeout(timer);
      timer = setTimeout(run, Math.max(0, last + 2000 - Date.now()));
    };
    run();
    if (refresh) this.on('block', (b) => { if (refresh(b)) schedule(); });
    return box;
  }
}

const routes = [
  [/^\/?$/, overview],
  [/^\/blocks$/, blocks],
  [/^\/blocks\/(\d+)$/, block],
  [/^\/txs\/([0-9a-fA-F]{64})$/, tx],
  [/^\/accounts$/, accounts],
  [/^\/accounts\/(did:key:z[1-9A-HJ-NP-Za-km-z]+)$/, accountPage],
  [/^\/providers$/, market.providers],
  [/^\/providers\/(did:key:z[1-9A-HJ-NP-Za-km-z]+)$/, market.provider],
  [/^\/leases$/, market.leases],
  [/^\/leases\/(\d+)$/, market.lease],
  [/^\/objects$/, market.objects],
  [/^\/objects\/([a-z0-9]+)$/, market.object],
  [/^\/functions$/, market.functions],
  [/^\/functions\/(\d+)$/, market.fn],
  [/^\/prices$/, market.prices],
  [/^\/audit$/, auditlog.list],
  [/^\/audit\/(\d+)$/, auditlog.entry],
];

let current = null;

async function route() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  const main = document.getElementById('main');
  current?.leave();
  for (const a of document.querySelectorAll('#nav a')) {
    const p = a.getAttribute('href').slice(1);
    a.classList.toggle('active', p === '/' ? path === '/' : path.startsWith(p));
  }
  for (const [re, render] of routes) {
    const m = decodeURIComponent(path).match(re);
    if (!m) continue;
    const page = current = new Page(main, m.slice(1), new URLSearchParams(qs || ''));
    fill(main, el('p', {class: 'loading'}, 'Loading…'));
    try {
      await render(page);
    } catch (e) {
      if (current === page) fill(main, errorBox(e));
    }
    window.scrollTo(0, 0);
    return;
  }
  current = null;
  fill(main, card('Not found', el('p', {}, `There is no page ${path}. `, el('a', {href: '#/'}, 'Go to the overview.'))));
}

// ---- Overview ----

async function overview(p) {
  const status = await get('/v1/status');
  const height = el('span', {}, num(status.height));
  const last = el('span', {}, when(status.latest_block_time));
  const head = el('div', {class: 'stats'},
    stat('Height', height, {id: 'height'}),
    stat('Last block', last, {id: 'last-block'}),
    stat('Block time', el('span', {id: 'block-time'}, '–'), {sub: 'mean of the last 30 blocks'}),
    stat('Transactions/s', el('span', {id: 'tps'}, '–'), {sub: 'over the last 30 blocks'}),
    stat('Validators', num(status.validators.length), {sub: 'power ' + num(status.validators.reduce((s, v) => s + v.power, 0))}),
    stat('Supply', el('span', {id: 'supply-total'}, '–')));
  p.on('block', (b) => {
    height.textContent = num(b.height);
    if (b.time) fill(last, when(b.time));
  });
  const recent = p.section(async () => {
    const page = await get('/v1/blocks?limit=30');
    const bs = page.items;
    if (bs.length > 1) {
      const dt = (Date.parse(bs[0].time) - Date.parse(bs[bs.length - 1].time)) / 1000;
      const txs = bs.slice(0, -1).reduce((s, b) => s + b.num_txs, 0);
      document.getElementById('block-time').textContent = fixed(dt / (bs.length - 1)) + ' s';
      document.getElementById('tps').textContent = dt > 0 ? fixed(txs / dt) : '–';
    }
    return blockTable(bs.slice(0, 10));
  }, always);
  const supply = p.section(async () => {
    const s = await get('/v1/supply');
    document.getElementById('supply-total').textContent = str(s.supply);
    const total = big(s.supply) || 1n;
    const rows = Object.entries(s.buckets).sort((a, b) => (big(b[1]) > big(a[1]) ? 1 : -1))
      .map(([name, v]) => [name, str(v), bar(Number(big(v) * 10000n / total) / 10000, name)]);
    return table(['Bucket', 'Amount', 'Share'], rows, {numeric: ['Amount'], id: 'supply'});
  }, blockHadTxs);
  const validators = table(['Name', 'Operator', 'Consensus address', 'Power'],
    status.validators.map((v) => [v.name || '–', account(v.operator), id(v.cons_address), num(v.power)]), {numeric: ['Power']});
  const events = auditlog.recent(p);
  p.show(heading('Network', el('span', {class: 'muted'}, status.chain_id)), head,
    el('div', {class: 'grid2'},
      card('Latest blocks', recent, el('p', {}, el('a', {href: '#/blocks'}, 'All blocks →'))),
      card('Supply by bucket', supply, el('p', {class: 'note'}, 'Every ustr is in exactly one bucket; the buckets add up to the supply.'))),
    el('div', {class: 'grid2'},
      card('Latest audit events', events, el('p', {}, el('a', {href: '#/audit'}, 'The audit log →'))),
      card('Validators', validators)));
}

function blockTable(bs) {
  return table(['Height', 'Time', 'Txs', 'Hash', 'Proposer'], bs.map((b) => [
    el('a', {href: '#/blocks/' + b.height}, num(b.height)), when(b.time), num(b.num_txs), id(b.hash), id(b.proposer),
  ]), {numeric: ['Txs'], empty: 'No blocks yet.', id: 'blocks'});
}

// ---- Blocks and transactions ----

async function blocks(p) {
  const after = p.query.get('after');
  const list = p.section(async () => {
    const page = await get('/v1/blocks?limit=25' + (after ? '&after=' + enc(after) : ''));
    return [blockTable(page.items),
      el('p', {class: 'pager'}, after ? el('a', {href: '#/blocks'}, '← Newest') : null,
        page.next ? el('a', {href: '#/blocks?after=' + page.next}, 'Older →') : null)];
  }, after ? null : always);
  const txs = after ? null : p.section(async () => {
    // The transactions of the last 100 blocks, newest first.
    const page = await get('/v1/blocks?limit=100');
    const hashes = page.items.flatMap((b) => [...b.tx_hashes].reverse()).slice(0, 15);
    return txTable(await Promise.all(hashes.map((x) => get('/v1/txs/' + x).catch(() => ({hash: x})))), 'No transactions in the last 100 blocks.');
  }, blockHadTxs);
  p.show(heading('Blocks'), txs ? card('Latest transactions', txs) : null, card(txs ? 'Latest blocks' : '', list));
}

async function block(p) {
  const h = p.params[0];
  const b = await get('/v1/blocks/' + h);
  const txs = await Promise.all(b.tx_hashes.map((x) => get('/v1/txs/' + x).catch(() => ({hash: x}))));
  p.show(heading('Block ' + num(b.height)),
    card('', kv([['Time', [when(b.time), ' · ', new Date(b.time).toLocaleString()]], ['Hash', id(b.hash)], ['Previous', id(b.last_block_hash, '#/blocks/' + (b.height - 1))],
      ['Proposer', id(b.proposer)], ['App hash (of the block before)', id(b.app_hash)], ['Transactions', num(b.num_txs)]]),
    el('p', {class: 'pager'}, b.height > 1 ? el('a', {href: '#/blocks/' + (b.height - 1)}, '← ' + num(b.height - 1)) : null,
      el('a', {href: '#/blocks/' + (Number(b.height) + 1)}, num(Number(b.height) + 1) + ' →'))),
    card('Transactions', txTable(txs)));
}

function txTable(txs, empty = 'No transactions in this block.') {
  return table(['Hash', 'Block', 'Time', 'Type', 'Signer', 'Fee', 'Result'], txs.map((t) => [
    id(t.hash, '#/txs/' + t.hash), t.height ? el('a', {href: '#/blocks/' + t.height}, num(t.height)) : '–', when(t.time), t.type || '–',
    account(t.signer), t.fee ? str(t.fee) : '–', t.code === undefined ? '–' : codeBadge(t.code),
  ]), {numeric: ['Fee'], empty, id: 'txs'});
}

async function tx(p) {
  const t = await get('/v1/txs/' + p.params[0].toLowerCase());
  const events = (t.events || []).map((e) => [e.type, attrList(e.attrs, e.type)]);
  p.show(heading('Transaction'),
    card('', kv([['Hash', id(t.hash)], ['Result', [codeBadge(t.code), t.log ? el('span', {class: 'muted'}, ' ' + t.log) : null]],
      ['Block', t.height ? el('a', {href: '#/blocks/' + t.height}, num(t.height)) : 'not yet committed'], ['Time', when(t.time)],
      ['Type', t.type || '–'], ['Signer', account(t.signer)], ['Nonce', num(t.nonce)],
      ['Gas', `${num(t.gas_used)} used of ${num(t.gas_limit)} at ${num(t.gas_price)} ustr`], ['Fee', t.fee ? str(t.fee) : '–']]),
    el('p', {}, el('a', {href: '#/audit?tx=' + t.hash, class: 'button'}, 'Verify in the audit log'))),
    card('Message', el('pre', {class: 'json'}, JSON.stringify(t.msg ?? null, null, 2))),
    card('Events', table(['Type', 'Attributes'], events, {empty: 'No events.'})));
}

// ---- Accounts ----

async function accounts(p) {
  const input = el('input', {type: 'search', name: 'did', placeholder: 'did:key:z6Mk…', 'aria-label': 'Account did:key', required: true, pattern: 'did:key:z[1-9A-HJ-NP-Za-km-z]+'});
  const form = el('form', {class: 'search', onsubmit: (e) => { e.preventDefault(); location.hash = '#/accounts/' + input.value.trim(); }},
    input, el('button', {type: 'submit'}, 'Open'));
  const known = p.section(async () => {
    const [status, providers] = await Promise.all([get('/v1/status'), all('/v1/providers')]);
    const list = [];
    for (const v of status.validators) if (v.operator) list.push([v.operator, 'validator ' + (v.name || '')]);
    for (const pr of providers) list.push([pr.operator, 'provider, ' + pr.offers.map((o) => o.class).join(' and ')]);
    const bals = await Promise.all(list.map(([did]) => get('/v1/accounts/' + enc(did)).catch(() => null)));
    return table(['Account', 'Role', 'Balance'], list.map(([did, role], i) => [account(did), role, bals[i] ? str(bals[i].balance) : '–']),
      {numeric: ['Balance']});
  });
  p.show(heading('Accounts'), card('Open an account', form), card('Known accounts', known));
}

async function accountPage(p) {
  const did = p.params[0];
  const summary = p.section(async () => {
    const a = await get('/v1/accounts/' + enc(did));
    return el('div', {class: 'stats'}, stat('Balance', str(a.balance), {id: 'balance'}), stat('Nonce', num(a.nonce), {sub: 'transactions sent'}));
  }, blockHadTxs);
  const history = p.section(() => accountHistory(did), blockHadTxs);
  const leases = p.section(async () => market.leaseTable((await get('/v1/leases?consumer=' + enc(did) + '&limit=50')).items));
  const objects = p.section(async () => market.objectTable((await get('/v1/objects?owner=' + enc(did) + '&limit=50')).items));
  const fns = p.section(async () => market.fnTable((await get('/v1/functions?owner=' + enc(did) + '&limit=50')).items));
  const prov = await maybe('/v1/providers/' + enc(did));
  p.show(heading('Account', id(did), el('a', {href: '#/audit?account=' + enc(did), class: 'trail'}, 'Audit trail →')),
    summary,
    prov ? el('p', {class: 'note'}, 'This account is a provider: ', el('a', {href: '#/providers/' + did}, 'see its provider page →')) : null,
    card('History', history),
    el('div', {class: 'grid2'}, card('Leases it pays for', leases), card('Objects it owns', objects)),
    card('Function deployments', fns));
}

async function accountHistory(did) {
  let page;
  try {
    page = await get('/v1/accounts/' + enc(did) + '/txs?limit=50');
  } catch (e) {
    if (e.status === 404 && /no route/i.test(e.message)) return el('p', {class: 'empty'}, 'This node does not serve account history (GET /v1/accounts/{did}/txs); upgrade it to see it here.');
    throw e;
  }
  const rows = page.items.map((t) => {
    let amount = '';
    for (const e of t.events || []) {
      const a = attrsOf(e.attrs);
      if (e.type === 'bank.transfer' && a.amount) {
        if (a.to === did && a.from !== did) amount = el('span', {class: 'pos'}, '+' + str(a.amount));
        else if (a.from === did) amount = el('span', {class: 'neg'}, '−' + str(a.amount));
      }
    }
    return [when(t.time), id(t.hash, '#/txs/' + t.hash), t.msg_type || '–', (t.roles || []).join(', '), t.memo ? el('span', {class: 'memo'}, t.memo) : '', amount,
      // The signer paid the fee; other parties did not.
      t.signer === did ? str(t.fee) : '–', codeBadge(t.code ?? 0)];
  });
  return [table(['When', 'Tx', 'Type', 'Role', 'Memo', 'Amount', 'Fee', 'Result'], rows,
    {numeric: ['Amount', 'Fee'], empty: 'No transactions yet.', id: 'history'}),
  page.next ? el('p', {class: 'note'}, 'Showing the latest 50.') : null];
}

// ---- Start ----

function start() {
  const badgeEl = document.getElementById('live');
  live.addEventListener('mode', (e) => {
    badgeEl.textContent = e.detail;
    badgeEl.className = 'live ' + e.detail;
  });
  get('/v1/status').then((s) => { document.getElementById('chain').textContent = s.chain_id; }).catch(() => {});
  window.addEventListener('hashchange', route);
  setInterval(tick, 1000);
  loadEventKinds(get).finally(route);
}

start();
