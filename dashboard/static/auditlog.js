// auditlog.js: the audit log's pages: its latest entries, a search by
// account or resource, and one entry with a button that verifies, in the
// browser, that it is in the log the validators signed (docs/audit.md).

import {el, fill, num, when, id, account, table, card, stat, kv, badge, codeBadge, heading, attrList, attrsOf} from './ui.js';
import {get, maybe, enc} from './api.js';
import {decodeLeaf, fromBase64, toHex, verify, hashEngine} from './audit.js';

// decoded caches leaves by index: entries never change.
const decoded = new Map();

async function entryAt(i) {
  if (!decoded.has(i)) {
    const rec = await get('/v1/audit/entries/' + i);
    const d = decodeLeaf(fromBase64(rec.leaf));
    // A tx leaf's own index is its position in the block.
    decoded.set(i, {...d, index_in_block: d.index, index: i, raw: rec.leaf});
  }
  return decoded.get(i);
}

// tail returns up to n entries below before (default: the log's size),
// newest first, read and decoded from the log itself.
async function tail(n, before) {
  const size = before ?? (await get('/v1/audit/root')).size;
  const idx = [];
  for (let i = size - 1; i >= 0 && idx.length < n; i--) idx.push(i);
  return {size, entries: await Promise.all(idx.map(entryAt))};
}

// fromEvent turns a /v1/audit/events item into the shape of a decoded leaf.
function fromEvent(e) {
  return {index: e.index, kind: e.kind, height: e.height, time: e.time, type: e.type, msg_type: e.msg_type || (e.kind === 'tx' ? e.type : undefined),
    attrs: e.attrs || [], hash: e.tx, signer: e.signer, code: e.code};
}

function what(e) {
  if (e.kind === 'tx') return [badge('tx', 'info'), ' ', e.msg_type || 'undecodable transaction'];
  return [badge('event'), ' ', e.type];
}

function details(e) {
  if (e.kind === 'tx') return [account(e.signer), ' ', codeBadge(e.code ?? 0)];
  return attrList(e.attrs, e.type);
}

function entryTable(entries, {verifyButtons = true} = {}) {
  return table(['Entry', 'Block', 'What', 'Details', 'Tx', ''], entries.map((e) => [
    el('a', {href: '#/audit/' + e.index}, num(e.index)),
    e.height ? el('a', {href: '#/blocks/' + e.height}, num(e.height)) : 'genesis',
    what(e), details(e),
    e.hash ? id(e.hash, '#/txs/' + e.hash) : '',
    verifyButtons ? el('a', {href: `#/audit/${e.index}?verify=1`, class: 'button small verify'}, 'Verify') : '',
  ]), {empty: 'No entries.', id: 'audit-entries'});
}

// recent is the overview's card of the latest entries, kept current.
export function recent(p) {
  let size = -1;
  return p.section(async () => {
    const t = await tail(8);
    size = t.size;
    return entryTable(t.entries, {verifyButtons: false});
  }, (b) => b.audit_size === undefined || b.audit_size !== size);
}

export async function list(p) {
  const q = p.query;
  if (q.get('tx')) {
    // From a transaction's page: find its leaf and verify it.
    const proof = await get('/v1/audit/proof/inclusion?tx=' + enc(q.get('tx')));
    location.replace(`#/audit/${proof.index}?verify=1`);
    return;
  }
  const accountIn = el('input', {type: 'search', name: 'account', placeholder: 'account did:key', value: q.get('account') || '', 'aria-label': 'Account'});
  const resourceIn = el('input', {type: 'search', name: 'resource', placeholder: 'resource: lease:ID, object:ID or deployment:ID', value: q.get('resource') || '', 'aria-label': 'Resource'});
  const form = el('form', {class: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    const s = new URLSearchParams();
    if (accountIn.value.trim()) s.set('account', accountIn.value.trim());
    if (resourceIn.value.trim()) s.set('resource', resourceIn.value.trim());
    location.hash = '#/audit' + (s.toString() ? '?' + s : '');
  }}, accountIn, resourceIn, el('button', {type: 'submit'}, 'Search'));
  const head = p.section(async () => {
    const [root, cp] = await Promise.all([get('/v1/audit/root'), maybe('/v1/audit/checkpoint')]);
    return el('div', {class: 'stats'}, stat('Entries', num(root.size), {id: 'audit-size'}), stat('Root', id(toHex(fromBase64(root.root)))),
      stat('Signed checkpoint', cp ? num(cp.size) + ' entries' : 'none yet', {sub: cp ? 'after block ' + num(cp.height) : ''}));
  }, (b) => true);
  const filtered = q.get('account') || q.get('resource');
  const before = q.get('before') ? Number(q.get('before')) : undefined;
  const entries = p.section(async () => {
    if (filtered) {
      const s = new URLSearchParams({limit: '50'});
      for (const k of ['account', 'resource', 'after']) if (q.get(k)) s.set(k, q.get(k));
      let page;
      try {
        page = await get('/v1/audit/events?' + s);
      } catch (e) {
        if (e.status === 404 && /no route/i.test(e.message)) return el('p', {class: 'empty'}, 'This node cannot search the audit log (GET /v1/audit/events); upgrade it.');
        throw e;
      }
      return [entryTable(page.items.map(fromEvent)), el('p', {class: 'note'}, 'In log order, oldest first.'),
        page.next ? el('p', {class: 'pager'}, el('a', {href: '#/audit?' + new URLSearchParams({...Object.fromEntries(q), after: page.next})}, 'More →')) : null];
    }
    const t = await tail(25, before);
    const low = t.entries.length ? t.entries[t.entries.length - 1].index : 0;
    return [entryTable(t.entries), el('p', {class: 'pager'}, before !== undefined ? el('a', {href: '#/audit'}, '← Newest') : null,
      low > 0 ? el('a', {href: '#/audit?before=' + low}, 'Older →') : null)];
  }, filtered || before !== undefined ? null : (b) => true);
  p.show(heading('Audit log'),
    el('p', {class: 'lead'}, 'Every transaction and event, in an append-only Merkle log whose root the validators sign. Verify any entry here, in your browser.'),
    head, card('Search', form), card(filtered ? 'Matching entries' : 'Latest entries', entries));
}

export async function entry(p) {
  const index = Number(p.params[0]);
  const e = await entryAt(index);
  const fields = e.kind === 'tx'
    ? [['Kind', 'transaction'], ['Block', el('a', {href: '#/blocks/' + e.height}, num(e.height))], ['Position in block', num(e.index_in_block)],
      ['Transaction', id(e.hash, '#/txs/' + e.hash)], ['Result', codeBadge(e.code)], ['Signer', e.signer ? account(e.signer) : 'did not decode'], ['Message', e.msg_type || '–']]
    : [['Kind', 'event'], ['Block', e.height ? el('a', {href: '#/blocks/' + e.height}, num(e.height)) : 'genesis'],
      ['Emitted by', e.tx < 0 ? 'the block itself' : 'transaction ' + num(e.tx) + ' of the block'], ['Type', e.type], ['Attributes', attrList(e.attrs, e.type)]];
  const steps = el('ol', {class: 'steps', id: 'verify-steps'});
  const result = el('div', {class: 'result', id: 'verify-result'});
  const button = el('button', {type: 'button', id: 'verify', class: 'button', onclick: () => run()}, 'Verify');
  const run = async () => {
    button.disabled = true;
    fill(steps);
    fill(result, 'Fetching the latest checkpoint…');
    result.className = 'result';
    try {
      let cp = await maybe('/v1/audit/checkpoint');
      for (let i = 0; (!cp || cp.size <= index) && i < 30; i++) {
        fill(result, `Waiting for a signed checkpoint that covers entry ${index}…`);
        await new Promise((r) => setTimeout(r, 1000));
        cp = await maybe('/v1/audit/checkpoint');
      }
      if (!cp || cp.size <= index) throw new Error(`no checkpoint covers entry ${index} yet; try again after the next block`);
      const {ok} = await verify(index, cp, get, (name, pass, detail) => {
        steps.append(el('li', {class: pass ? 'ok' : 'bad'}, el('span', {class: 'mark'}, pass ? '✓' : '✗'), ' ', el('strong', {}, name),
          el('div', {class: 'detail'}, detail)));
      });
      result.className = 'result ' + (ok ? 'ok' : 'bad');
      fill(result, ok
        ? `✓ Verified: entry ${index} is in the log of ${num(cp.size)} entries whose root is in the app hash of block ${num(cp.height)}, carried by block ${num(cp.height + 1)}'s header.`
        : `✗ Verification failed: see the steps above. Do not trust this node's answers; ask another node.`);
    } catch (err) {
      result.className = 'result bad';
      fill(result, '✗ Could not verify: ' + (err.message || err));
    }
    button.disabled = false;
  };
  p.show(heading('Audit entry ' + num(index)),
    el('div', {class: 'grid2'},
      card('Entry', kv(fields), el('details', {}, el('summary', {}, 'Raw leaf'), el('pre', {class: 'json'}, toHex(fromBase64(e.raw))))),
      card('Verify', el('p', {}, 'Checks, in this browser, that this entry is in the log whose size and root the latest checkpoint commits to, and that they are the inputs of the app hash in the next block\'s header.'),
        button, result, steps,
        el('p', {class: 'note'}, `Hashing with ${hashEngine()}. Not checked here: the validators' ed25519 signatures on that header. Run `,
          el('code', {}, 'stratus audit verify'), ' for the full check against a validator set you trust.'))),
    el('p', {class: 'pager'}, index > 0 ? el('a', {href: '#/audit/' + (index - 1)}, '← Entry ' + num(index - 1)) : null,
      el('a', {href: '#/audit/' + (index + 1)}, 'Entry ' + num(index + 1) + ' →')));
  if (p.query.get('verify')) run();
}
