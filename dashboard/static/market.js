// market.js: the market's pages: providers, leases, objects, function
// deployments and prices.

import {el, fill, str, num, when, id, account, table, card, stat, kv, badge, stateBadge, bar, big, bytes, quantity, price, priceValue, ratePerDay, pct, span, fixed, heading, blockHadTxs, always} from './ui.js';
import {get, maybe, all, enc} from './api.js';
import {stepChart} from './chart.js';

// trail links to the audit log's entries that name a resource.
function trail(resource) {
  return el('a', {href: '#/audit?resource=' + encodeURIComponent(resource), class: 'trail'}, 'Audit trail →');
}

// ---- Providers ----

function offerCells(offers) {
  return offers.map((o) => el('div', {class: 'offer'},
    el('span', {class: 'tag'}, o.class), ' ', quantity(o.class, o.used), ' of ', quantity(o.class, o.capacity),
    bar(Number(big(o.used)) / Math.max(1, Number(big(o.capacity))), 'used'),
    el('div', {class: 'muted'}, pricing(o.class, o.pricing))));
}

function pricing(cls, rule) {
  switch (rule?.kind) {
  case 'fixed': return 'fixed ' + price(cls, rule.price);
  case 'reference': return 'reference × ' + fixed(rule.multiplier_bps / 10000);
  case 'utilization': return price(cls, rule.price) + ', +' + pct(rule.slope_bps) + ' × utilization';
  default: return '–';
  }
}

function score(s) {
  return el('span', {class: 'score'}, pct(s), bar(s / 10000, 'score'));
}

export async function providers(p) {
  const list = p.section(async () => {
    const ps = await all('/v1/providers');
    const details = await Promise.all(ps.map((x) => get('/v1/providers/' + enc(x.operator)).catch(() => null)));
    return table(['Provider', 'Region', 'Offers (used of capacity, price)', 'Score', 'Breaches', 'Proofs passed / missed', 'Open leases', 'Collateral', 'State'],
      ps.map((x, i) => {
        const pr = details[i]?.proofs || {};
        return [id(x.operator, '#/providers/' + x.operator), x.region || '–', offerCells(x.offers), score(x.score), num(x.breaches),
          `${num(pr.passed ?? 0)} / ${num(pr.missed ?? 0)}`, num(x.open_leases), str(x.collateral), stateBadge(x.state)];
      }), {numeric: ['Breaches', 'Open leases', 'Collateral'], empty: 'No providers are registered.', id: 'providers'});
  }, blockHadTxs);
  p.show(heading('Providers'), card('', list,
    el('p', {class: 'note'}, 'Score: 100% for a provider that kept every promise; each SLA breach takes 10 points, each good window gives back 1. Proofs: storage challenges answered and missed.')));
}

export async function provider(p) {
  const did = p.params[0];
  const x = await get('/v1/providers/' + enc(did));
  const pr = x.proofs || {};
  const challenges = await get('/v1/storage/challenges?provider=' + enc(did) + '&limit=20').catch(() => null);
  const leases = p.section(async () => leaseTable((await get('/v1/leases?provider=' + enc(did) + '&limit=100')).items.reverse()), blockHadTxs);
  p.show(heading('Provider', id(did)),
    el('div', {class: 'stats'}, stat('Score', score(x.score)), stat('SLA breaches', num(x.breaches)), stat('Open leases', num(x.open_leases)),
      stat('Collateral', str(x.collateral), {sub: 'minimum ' + str(x.min_collateral)}), stat('Proofs passed', num(pr.passed ?? 0)), stat('Proofs missed', num(pr.missed ?? 0))),
    el('div', {class: 'grid2'},
      card('Provider', kv([['Operator', account(did)], ['Endpoint', x.endpoint], ['Region', x.region || '–'], ['State', stateBadge(x.state)],
        ['New leases', x.takes_new_leases ? badge('accepted', 'ok') : badge(x.reason || 'refused', 'warn')], ['Registered', when(x.registered_ms)],
        ['Refund shortfall', str(x.refund_shortfall)]])),
      card('Offers', el('div', {}, offerCells(x.offers)))),
    card('Storage proofs', kv([['Passed', num(pr.passed ?? 0)], ['Missed', num(pr.missed ?? 0)], ['Failed to verify', num(pr.failed ?? 0)],
      ['Misses in a row', num(pr.consecutive ?? 0)], ['Collateral penalized', str(pr.penalized ?? 0)], ['Shards repaired for others', num(pr.repaired ?? 0)],
      ['Shards lost', num(pr.lost ?? 0)]]),
    el('h3', {}, 'Open challenges'),
    challenges ? table(['Challenge', 'Object', 'Segment / shard', 'Leaf', 'Issued', 'Deadline'], challenges.items.map((c) => [num(c.id), id(c.object, '#/objects/' + c.object),
      `${c.segment} / ${c.shard}`, num(c.leaf), when(c.issued_ms), when(c.deadline_ms)]), {empty: 'No open challenge.'}) : null),
    card('Leases', leases));
}

// ---- Leases ----

function timeLeft(l) {
  if (l.state !== 'active' && l.state !== 'grace') return el('span', {class: 'muted'}, '–');
  if (l.seconds_left < 0) return 'years';
  return el('span', {dataset: {until: Date.now() + l.seconds_left * 1000}}, span(l.seconds_left));
}

export function leaseTable(ls) {
  return table(['Lease', 'Class', 'Quantity', 'Consumer', 'Provider', 'State', 'Rate', 'Escrow', 'Paid out', 'Time left'],
    ls.map((l) => [el('a', {href: '#/leases/' + l.id}, '#' + l.id), l.class, quantity(l.class, l.quantity), account(l.consumer),
      id(l.provider, '#/providers/' + l.provider), stateBadge(l.state), ratePerDay(l.rate), str(l.escrow), str(l.settled), timeLeft(l)]),
    {numeric: ['Quantity', 'Rate', 'Escrow', 'Paid out', 'Time left'], empty: 'No leases.', id: 'leases'});
}

// allLeases lists the leases of every provider, newest first.
async function allLeases(state) {
  const ps = await all('/v1/providers');
  const lists = await Promise.all(ps.map((x) => all('/v1/leases?provider=' + enc(x.operator) + (state ? '&state=' + state : ''), 500)));
  return lists.flat().sort((a, b) => Number(big(b.id) - big(a.id)));
}

export async function leases(p) {
  const state = p.query.get('state') || 'open';
  const list = p.section(async () => leaseTable(await allLeases(state === 'all' ? '' : state)), always);
  p.show(heading('Leases', el('span', {class: 'tabs'},
    ['open', 'closed', 'all'].map((s) => el('a', {href: '#/leases?state=' + s, class: s === state ? 'active' : ''}, s)))),
  card('', list, el('p', {class: 'note'}, 'The rate is what the escrow pays the lease\'s payees; time left is how long the escrow lasts at that rate.')));
}

export async function lease(p) {
  const leaseId = p.params[0];
  const body = p.section(async () => {
    const l = await get('/v1/leases/' + leaseId);
    const dep = big(l.deposited) || 1n;
    const share = (v) => bar(Number(big(v) * 10000n / dep) / 10000);
    const flows = table(['Where the deposit went', 'Amount', 'Share'], [
      ['Still in escrow', str(l.escrow), share(l.escrow)],
      ['Paid to the payees', str(l.settled), share(l.settled)],
      ['Refunded to the consumer', str(l.refunded), share(l.refunded)],
    ], {numeric: ['Amount']});
    const payees = table(['Payee', 'Share', 'Paid'], l.split.map((s) => [account(s.to), pct(s.bps), str(s.paid)]), {numeric: ['Paid']});
    const windows = table(['Window', 'From', 'Availability', 'Quorum', 'Charged', 'Result', 'Refund'], (l.windows || []).slice(-20).reverse().map((w) => [
      num(w.index), when(w.start_ms), pct(w.availability_bps), w.quorum ? 'yes' : 'no', str(w.charges), w.breach ? badge('breach', 'bad') : badge('met', 'ok'), str(w.refund)]),
    {numeric: ['Charged', 'Refund'], empty: 'No SLA window judged yet.'});
    return [el('div', {class: 'stats'}, stat('State', stateBadge(l.state)), stat('Time left', timeLeft(l), {id: 'time-left'}), stat('Rate', ratePerDay(l.rate)),
      stat('Deposited', str(l.deposited)), stat('Escrow', str(l.escrow)), stat('SLA refunds', str(l.sla_refunded))),
    el('div', {class: 'grid2'},
      card('Lease', kv([['Consumer', account(l.consumer)], ['Provider', id(l.provider, '#/providers/' + l.provider)], ['Resource', l.class + ', ' + quantity(l.class, l.quantity)],
        ['Price', price(l.class, l.price) + (l.float ? ' (follows the market)' : ' (fixed)')], ['Opened', when(l.opened_ms)], ['Settled up to', when(l.settled_ms)],
        ['SLA', l.sla?.target_bps ? `${pct(l.sla.target_bps)} availability per ${span(l.sla.window_seconds)} window` : 'none']])),
      card('Money', flows, el('p', {class: 'note'}, 'deposited = escrow + paid + refunded'))),
    card('Payees', payees),
    card('Service level windows', windows)];
  }, always);
  p.show(heading('Lease #' + leaseId, trail('lease:' + leaseId)), body);
}

// ---- Objects ----

export function objectTable(os) {
  return table(['Object', 'Owner', 'Size', 'Redundancy', 'Access', 'Paid until', 'Stored'],
    os.map((o) => [id(o.id, '#/objects/' + o.id), account(o.owner), bytes(o.size), `${o.k}+${o.m}`, o.public ? 'public' : 'private',
      o.paid_until_ms >= 9e15 ? 'no end' : when(o.paid_until_ms), when(o.created_ms)]),
    {numeric: ['Size'], empty: 'No objects.', id: 'objects'});
}

export async function objects(p) {
  const list = p.section(async () => {
    // Objects are listed by owner; the owners are the consumers of
    // storage leases.
    const ls = await allLeases('');
    const owners = [...new Set(ls.filter((l) => l.class === 'storage').map((l) => l.consumer))];
    const os = (await Promise.all(owners.map((o) => all('/v1/objects?owner=' + enc(o), 200)))).flat();
    return objectTable(os.sort((a, b) => b.created_ms - a.created_ms));
  }, blockHadTxs);
  p.show(heading('Objects'), card('', list, el('p', {class: 'note'}, 'Objects of every account that pays for a storage lease.')));
}

export async function object(p) {
  const o = await get('/v1/objects/' + enc(p.params[0]));
  const man = o.decoded_manifest || {};
  p.show(heading('Object', id(o.id), trail('object:' + o.id)),
    el('div', {class: 'stats'}, stat('Size', bytes(o.size)), stat('Redundancy', `${o.k}+${o.m}`, {sub: `any ${o.k} of ${o.k + o.m} shards`}),
      stat('Access', o.public ? 'public' : 'private'), stat('Paid until', o.paid_until_ms >= 9e15 ? 'no end' : when(o.paid_until_ms))),
    card('Object', kv([['Owner', account(o.owner)], ['Stored', when(o.created_ms)], ['Expires', o.expires_ms ? when(o.expires_ms) : 'when its leases run out'],
      ['Content', o.public ? el('a', {href: '/v1/objects/' + o.id + '/content'}, 'download') : 'encrypted to its owner'],
      ['Segments', man.segments ? num(man.segments.length) : '–']])),
    card('Leases paying for it', table(['Lease', 'Provider', 'Bytes'], o.leases.map((l) => [el('a', {href: '#/leases/' + l.lease}, '#' + l.lease),
      id(l.provider, '#/providers/' + l.provider), bytes(l.bytes)]), {numeric: ['Bytes']})));
}

// ---- Function deployments ----

export function fnTable(ds) {
  return table(['Deployment', 'Name', 'Owner', 'State', 'Replicas', 'Calls', 'Cost', 'Escrow'],
    ds.map((d) => [el('a', {href: '#/functions/' + d.id}, '#' + d.id), d.name, account(d.owner), stateBadge(d.state), num((d.replicas || []).length),
      num(d.calls), str(d.charged), str(d.escrow)]),
    {numeric: ['Replicas', 'Calls', 'Cost', 'Escrow'], empty: 'No deployments.', id: 'functions'});
}

// lastDeployment finds the highest deployment id: ids count up from 1 and
// deployments are never deleted, so an exponential then binary search
// over GET /v1/functions/{id} finds it in a few requests.
async function lastDeployment() {
  const exists = async (n) => (await maybe('/v1/functions/' + n)) !== null;
  if (!(await exists(1))) return 0;
  let lo = 1, hi = 2;
  while (await exists(hi)) { lo = hi; hi *= 2; }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await exists(mid)) lo = mid; else hi = mid;
  }
  return lo;
}

export async function functions(p) {
  const list = p.section(async () => {
    const last = await lastDeployment();
    const ids = [];
    for (let i = last; i >= 1 && ids.length < 50; i--) ids.push(i);
    return fnTable(await Promise.all(ids.map((i) => get('/v1/functions/' + i))));
  }, blockHadTxs);
  p.show(heading('Function deployments'), card('', list,
    el('p', {class: 'note'}, 'Cost is what the calls and MiB-milliseconds charged the deployment\'s escrow so far.')));
}

export async function fn(p) {
  const fid = p.params[0];
  const body = p.section(async () => {
    const d = await get('/v1/functions/' + fid);
    const usage = new Map((d.usage || []).map((u) => [u.provider, u]));
    return [el('div', {class: 'stats'}, stat('State', stateBadge(d.state)), stat('Replicas', num((d.replicas || []).length)), stat('Calls', num(d.calls)),
      stat('Cost so far', str(d.charged)), stat('Escrow', str(d.escrow)), stat('MiB·ms', num(d.mib_ms))),
    el('div', {class: 'grid2'},
      card('Deployment', kv([['Name', d.name], ['Owner', account(d.owner)], ['Gateway', el('a', {href: '/fn/' + d.id + '/'}, '/fn/' + d.id + '/')],
        ['Created', when(d.created_ms)], ['Updated', when(d.updated_ms)], ['Deposited', str(d.deposited)], ['Refunded', str(d.refunded)],
        d.suspended_reason ? ['Suspended', d.suspended_reason] : null, d.module_error ? ['Module error', d.module_error] : null])),
      card('Payees', table(['Payee', 'Share'], (d.payees || []).map((s) => [account(s.to), pct(s.bps)]), {empty: 'The provider takes it all.'}))),
    card('Replicas', table(['Provider', 'Lease', 'Lease state', 'Opened', 'Concurrency (avg / peak)', 'Calls reported', 'Paid'],
      (d.replicas || []).map((r) => {
        const u = usage.get(r.provider) || {};
        return [id(r.provider, '#/providers/' + r.provider), el('a', {href: '#/leases/' + r.lease}, '#' + r.lease), stateBadge(r.lease_state),
          when(r.opened_ms), `${r.avg_concurrency ?? 0} / ${r.peak_concurrency ?? 0}`, num(u.calls ?? 0), str(u.paid ?? 0)];
      }), {numeric: ['Calls reported', 'Paid'], empty: 'No replica runs it now.'}))];
  }, blockHadTxs);
  p.show(heading('Function #' + fid, trail('deployment:' + fid)), body);
}

// ---- Prices ----

export async function prices(p) {
  const now = p.section(async () => {
    const ps = await get('/v1/prices');
    return el('div', {class: 'stats'}, ps.map((x) => [
      stat(x.class + ' reference price', price(x.class, x.reference), {id: 'price-' + x.class}),
      stat(x.class + ' utilization', pct(x.utilization_bps), {sub: `${quantity(x.class, x.used)} of ${quantity(x.class, x.capacity)}`}),
    ]));
  }, always);
  const charts = ['storage', 'compute'].map((cls) => card(cls === 'storage' ? 'Storage, STR per GiB-month' : 'Compute, STR per cu-hour', p.section(async () => {
    const h = await get('/v1/prices/history?class=' + cls + '&limit=500');
    const pts = h.items.map((x) => ({t: x.start_ms, v: priceValue(cls, x.reference)}));
    return el('div', {class: 'chart-wrap', id: 'chart-' + cls}, stepChart(pts, {format: fixed, label: cls + ' reference price over time'}),
      el('p', {class: 'note'}, `${h.items.length} epoch${h.items.length === 1 ? '' : 's'} with a price set.`));
  })));
  p.show(heading('Prices'), now, el('div', {class: 'grid2'}, charts),
    el('p', {class: 'note'}, 'The reference price of each class follows its utilization, epoch by epoch (docs/pricing.md). Providers price from it.'));
}
