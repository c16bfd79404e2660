// In-browser verification of a decision receipt, for auditors who do not want to take the
// server's word (DEBATE.md "Decision receipts"; the server's side is VerifyReceipt in
// src/debate/receipt.cpp):
//  - signed bytes = UTF-8 of the RFC 8785 (JCS) form of the receipt without its top-level
//    `content_hash` and `signatures` and without the served-only members the API adds;
//  - integrity: lowercase hex SHA-256 of the signed bytes (WebCrypto) = `content_hash`;
//  - each Ed25519 signature: key_id = first 16 hex of SHA-256(public key), and the
//    signature over the signed bytes verifies (WebCrypto 'Ed25519') under the embedded
//    public key. That alone proves possession of that key, not who holds it: the key is
//    also compared with the installation's published keys when the caller has them;
//  - HMAC-SHA256 signatures need the server's secret and cannot be checked here.

import { canonicalizeWithout } from './jcs.js';

// ServedOnlyReceiptFields() in src/debate/receipt.cpp.
export const SERVED_ONLY = [
  'gauntlet_id', 'checksum', 'is_signed', 'signature_metadata', 'agents_involved', 'participating_agents',
  'dissenting_agents', 'rounds_completed', 'consensus_reached', 'risk_level', 'risk_score', 'input_summary', 'created_at',
];

export function signedBytes(receipt) {
  return new TextEncoder().encode(canonicalizeWithout(receipt, [...SERVED_ONLY, 'content_hash', 'signatures']));
}

export function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function base64Decode(text) {
  const bin = atob(String(text));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out;
}

function sameBytes(b64a, b64b) {
  try {
    const a = base64Decode(b64a);
    const b = base64Decode(b64b);
    return a.length === b.length && a.every((x, i) => x === b[i]);
  } catch {
    return false;
  }
}

export async function sha256Hex(bytes, subtle = globalThis.crypto.subtle) {
  return hex(await subtle.digest('SHA-256', bytes));
}

// → { valid, reason, integrity: {valid, computed, stored}, signatures: [{algorithm, key_id,
//   signed_at, status, trusted, detail}] }. status: 'valid' | 'invalid' | 'unverifiable'
// (HMAC, or no WebCrypto Ed25519) | 'malformed'. trusted: true/false when `trustedKeys`
// (e.g. the installation's published keys, GET /.well-known/aragora/receipt-keys.json)
// (an array of {key_id?, public_key?}: a
// signature's key is trusted when it matches every member given of one entry) was given, null when it was not.
// valid = the hash matches, no signature is invalid and at least one Ed25519 signature
// verified (and, when trustedKeys was given, under a trusted key).
export async function verifyReceipt(receipt, { trustedKeys = null, subtle = globalThis.crypto.subtle } = {}) {
  const result = { valid: false, reason: '', integrity: null, signatures: [] };
  if (!receipt || typeof receipt !== 'object' || Array.isArray(receipt)) {
    result.reason = 'not a receipt object';
    return result;
  }
  let bytes;
  try {
    bytes = signedBytes(receipt);
  } catch (err) {
    result.reason = `malformed receipt: ${err.message}`;
    return result;
  }
  const computed = await sha256Hex(bytes, subtle);
  const stored = typeof receipt.content_hash === 'string' ? receipt.content_hash : null;
  result.integrity = { valid: computed === stored, computed, stored };

  const sigs = Array.isArray(receipt.signatures) ? receipt.signatures : [];
  for (const sig of sigs) {
    const entry = { algorithm: sig?.algorithm, key_id: sig?.key_id, signed_at: sig?.signed_at, status: 'malformed', trusted: null, detail: '' };
    result.signatures.push(entry);
    if (!sig || typeof sig.algorithm !== 'string' || typeof sig.key_id !== 'string' || typeof sig.value !== 'string') {
      entry.detail = 'lacks a string algorithm, key_id or value';
      continue;
    }
    if (sig.algorithm === 'HMAC-SHA256') {
      entry.status = 'unverifiable';
      entry.detail = 'HMAC needs the server\u2019s secret key: use Verify on the server';
      continue;
    }
    if (sig.algorithm !== 'Ed25519') {
      entry.status = 'unverifiable';
      entry.detail = `unsupported algorithm ${sig.algorithm}`;
      continue;
    }
    let publicKey;
    let signature;
    try {
      publicKey = base64Decode(sig.public_key);
      signature = base64Decode(sig.value);
    } catch {
      entry.detail = 'public_key or value is not base64';
      continue;
    }
    if (publicKey.length !== 32) {
      entry.detail = 'public_key is not 32 bytes';
      continue;
    }
    const keyId = (await sha256Hex(publicKey, subtle)).slice(0, 16);
    if (keyId !== sig.key_id) {
      entry.status = 'invalid';
      entry.detail = `key_id does not match public_key (expected ${keyId})`;
      continue;
    }
    // A trusted key with this key_id (the installation's published key) is the one to
    // verify with (docs/receipts.md), not the one the receipt carries.
    const published = trustedKeys?.find((k) => k.key_id === sig.key_id && k.public_key);
    if (published && !sameBytes(published.public_key, sig.public_key)) {
      entry.status = 'invalid';
      entry.trusted = false;
      entry.detail = 'the embedded public_key differs from the trusted key with this key_id';
      continue;
    }
    let ok;
    try {
      const key = await subtle.importKey('raw', published ? base64Decode(published.public_key) : publicKey, { name: 'Ed25519' }, false, ['verify']);
      ok = await subtle.verify({ name: 'Ed25519' }, key, signature, bytes);
    } catch (err) {
      entry.status = 'unverifiable';
      entry.detail = `this browser cannot verify Ed25519 (${err.name || err.message})`;
      continue;
    }
    entry.status = ok ? 'valid' : 'invalid';
    const under = published ? 'the trusted (published) key' : 'the embedded public key';
    entry.detail = ok ? `signature verifies under ${under}` : `signature does not verify under ${under}`;
    if (trustedKeys) {
      entry.trusted = trustedKeys.some(
        (k) => (k.key_id || k.public_key) && (!k.key_id || k.key_id === sig.key_id) && (!k.public_key || sameBytes(k.public_key, sig.public_key)),
      );
      if (!entry.trusted) entry.detail += '; the key is not one of the trusted keys';
    }
  }

  const invalid = result.signatures.find((s) => s.status === 'invalid' || s.status === 'malformed');
  const good = result.signatures.filter((s) => s.algorithm === 'Ed25519' && s.status === 'valid' && s.trusted !== false);
  if (!result.integrity.valid) result.reason = 'content hash mismatch';
  else if (invalid) result.reason = `bad signature (${invalid.algorithm}: ${invalid.detail})`;
  else if (!sigs.length) result.reason = 'unsigned';
  else if (!good.length) result.reason = result.signatures.some((s) => s.algorithm === 'Ed25519')
    ? 'no Ed25519 signature verified under a trusted key'
    : 'no Ed25519 signature: only the server can check this receipt\u2019s HMAC signature';
  result.valid = result.reason === '';
  return result;
}
