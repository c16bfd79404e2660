// RFC 8785 JSON Canonicalization Scheme for values parsed by JSON.parse, written to match
// the server's src/common/jcs.cpp byte for byte:
//  - object members sorted by the UTF-16 code units of their names (JavaScript's default
//    string comparison is exactly that), no whitespace;
//  - strings with the minimal escaping of JSON.stringify (\" \\ \b \f \n \r \t, other
//    controls as \u00xx lowercase; everything else, U+2028/9 included, as is);
//  - numbers in ECMAScript Number::toString form (JSON.stringify's), -0 as 0; non-finite
//    numbers are an error (JSON.parse never produces them).
// Hand-written (40 lines) rather than the npm `canonicalize` package so that the unbundled
// sources run as they are; tests/web/jcs.test.mjs checks the two agree.

export function canonicalize(value) {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('JCS: non-finite number');
    return Object.is(value, -0) ? '0' : JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalize(v === undefined ? null : v)).join(',')}]`;
  if (typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalize(value[k])}`).join(',')}}`;
  }
  throw new TypeError(`JCS: cannot canonicalize a ${typeof value}`);
}

// The canonical form of an object without some of its top-level members (nested members
// of the same names are kept), as CanonicalizeJsonObjectWithout on the server.
export function canonicalizeWithout(object, omit) {
  const skip = new Set(omit);
  // fromEntries defines own members, so a member named "__proto__" stays a member.
  return canonicalize(Object.fromEntries(Object.entries(object).filter(([k]) => !skip.has(k))));
}
