// RFC 8785 JSON Canonicalization Scheme: the npm `canonicalize` package (bundled by
// web/build.mjs), which matches the server's src/common/jcs.cpp for everything JSON.parse
// produces: members sorted by UTF-16 code units, JSON.stringify's minimal string escaping,
// ECMAScript number form (-0 as 0). tests/browser/debates.test.mjs checks it against the
// server's own canonical text byte for byte.

import canonicalizePackage from 'canonicalize';

export function canonicalize(value) {
  const text = canonicalizePackage(value);
  if (text === undefined) throw new TypeError('JCS: the value has no JSON form');
  return text;
}

// The canonical form of an object without some of its top-level members (nested members
// of the same names are kept), as CanonicalizeJsonObjectWithout on the server.
export function canonicalizeWithout(object, omit) {
  const skip = new Set(omit);
  // fromEntries defines own members, so a member named "__proto__" stays a member.
  return canonicalize(Object.fromEntries(Object.entries(object).filter(([k]) => !skip.has(k))));
}
