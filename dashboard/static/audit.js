// audit.js: decoding audit-log leaves and checking, in the browser, that an
// entry is in the log whose root a checkpoint commits to (docs/audit.md).

import {sha256 as jsSHA256} from './sha256.js';

// hash is SHA-256 of the concatenated byte arrays: WebCrypto where the
// browser offers it (secure contexts: https, localhost, 127.0.0.1), the
// JavaScript fallback elsewhere.
export async function hash(...parts) {
  const data = concat(...parts);
  if (globalThis.crypto?.subtle) return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return jsSHA256(data);
}

export function hashEngine() {
  return globalThis.crypto?.subtle ? 'WebCrypto' : 'JavaScript SHA-256';
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function fromBase64(s) {
  const bin = atob(s || '');
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(b) {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

export function toHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function fromHex(s) {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

export function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function u64be(v) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(v));
  return out;
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function base58(b) {
  let n = 0n;
  for (const x of b) n = n * 256n + BigInt(x);
  let s = '';
  while (n > 0n) { s = B58[Number(n % 58n)] + s; n /= 58n; }
  for (const x of b) { if (x !== 0) break; s = '1' + s; }
  return s;
}

// didKey is the did:key of an ed25519 public key (multicodec 0xed01,
// base58btc).
export function didKey(pub) {
  return 'did:key:z' + base58(concat(new Uint8Array([0xed, 0x01]), pub));
}

// decodeLeaf reads a leaf in the format of docs/audit.md, "Leaf format". It
// throws on anything else, trailing bytes included.
export function decodeLeaf(b) {
  let o = 0;
  const fail = (what) => { throw new Error(`leaf is malformed: ${what} at byte ${o}`); };
  const uvarint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      if (o >= b.length) fail('truncated varint');
      const x = b[o++];
      v |= BigInt(x & 0x7f) << shift;
      if (x < 0x80) return v;
      shift += 7n;
      if (shift > 63n) fail('varint too long');
    }
  };
  const bytes = (n) => {
    if (o + n > b.length) fail('truncated field');
    const out = b.slice(o, o + n);
    o += n;
    return out;
  };
  const string = () => new TextDecoder().decode(bytes(Number(uvarint())));
  const kind = string();
  let e;
  if (kind === 'tx') {
    e = {kind, height: Number(uvarint()), index: Number(uvarint()), hash: toHex(bytes(32)), code: Number(uvarint())};
    if (o < b.length) {
      e.signer = didKey(bytes(32));
      e.msg_type = string();
    }
  } else if (kind === 'event') {
    e = {kind, height: Number(uvarint()), tx: Number(uvarint()) - 1, type: string(), attrs: []};
    const n = Number(uvarint());
    for (let i = 0; i < n; i++) e.attrs.push({key: string(), value: string()});
  } else {
    fail(`unknown kind ${JSON.stringify(kind)}`);
  }
  if (o !== b.length) fail('trailing bytes');
  return e;
}

const bitLen = (x) => x === 0n ? 0 : x.toString(2).length;
const onesCount = (x) => [...x.toString(2)].filter((c) => c === '1').length;

// rootFromInclusion recomputes the root of a tree of size leaves from leaf
// index's hash and its RFC 6962 audit path: transparency-dev/merkle's
// RootFromInclusionProof.
export async function rootFromInclusion(index, size, leafHash, proof) {
  const i = BigInt(index), n = BigInt(size);
  if (i >= n) throw new Error(`index ${index} is not below the tree size ${size}`);
  const inner = bitLen(i ^ (n - 1n));
  const border = onesCount(i >> BigInt(inner));
  if (proof.length !== inner + border) throw new Error(`the proof has ${proof.length} hashes, want ${inner + border}`);
  const one = new Uint8Array([1]);
  let h = leafHash;
  for (let k = 0; k < inner; k++) {
    h = ((i >> BigInt(k)) & 1n) === 0n ? await hash(one, h, proof[k]) : await hash(one, proof[k], h);
  }
  for (let k = inner; k < proof.length; k++) h = await hash(one, proof[k], h);
  return h;
}

export function leafHash(leaf) {
  return hash(new Uint8Array([0]), leaf);
}

// appHash is SHA-256("stratus/apphash/v1\n" || prev || uint64be(height) ||
// writes || uint64be(size) || root): what block height+1's header carries.
export function appHash(cp) {
  return hash(new TextEncoder().encode('stratus/apphash/v1\n'), fromBase64(cp.prev_app_hash), u64be(cp.height),
    fromBase64(cp.writes_hash), u64be(cp.size), fromBase64(cp.root));
}

// verify checks entry index against checkpoint cp, calling step(name, ok,
// detail) for each check as it completes; get fetches API paths. It
// returns whether every check passed and the decoded leaf.
export async function verify(index, cp, get, step) {
  let ok = true;
  const check = (name, pass, detail) => { ok = ok && pass; step(name, pass, detail); return pass; };
  const rec = await get('/v1/audit/entries/' + index);
  const leaf = fromBase64(rec.leaf);
  let decoded = null;
  try {
    decoded = decodeLeaf(leaf);
    check('Leaf decodes', true, `${leaf.length} bytes, kind ${decoded.kind}`);
  } catch (e) {
    check('Leaf decodes', false, e.message);
  }
  const proof = await get(`/v1/audit/proof/inclusion?index=${index}&size=${cp.size}`);
  const lh = await leafHash(leaf);
  let root;
  try {
    root = await rootFromInclusion(index, cp.size, lh, proof.hashes.map(fromBase64));
    check(`Inclusion proof leads to the checkpoint's root`, equal(root, fromBase64(cp.root)),
      `${proof.hashes.length} hashes; computed ${toBase64(root)}, checkpoint ${cp.root}`);
  } catch (e) {
    check(`Inclusion proof leads to the checkpoint's root`, false, e.message);
  }
  const header = cp.header || {};
  const want = fromHex(String(header.app_hash || ''));
  const got = await appHash(cp);
  check(`App hash of block ${cp.height} matches block ${header.height}'s header`, equal(got, want),
    `computed ${toHex(got)}, header ${String(header.app_hash || '').toLowerCase()}`);
  check('Header is of the next block', Number(header.height) === Number(cp.height) + 1, `header height ${header.height}, checkpoint height ${cp.height}`);
  const note = `stratus/${header.chain_id}\n${cp.size}\n${cp.root}\n`;
  check('Note names the chain, size and root', cp.note === note, `origin stratus/${header.chain_id}`);
  return {ok, decoded};
}
