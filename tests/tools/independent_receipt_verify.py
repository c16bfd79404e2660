#!/usr/bin/python3
"""An independent verifier of Aragora decision receipts (none of the project's code).

Given receipts (their own JSON) and EITHER the published Ed25519 public keys
(GET /.well-known/aragora/receipt-keys.json) OR kept HMAC keys, it recomputes the signed
bytes (RFC 8785 JCS of the receipt without content_hash and signatures), checks the
content hash, and checks each signature with Debian's python3-cryptography (Ed25519) or
the standard library (HMAC-SHA256). The Ed25519 key used is the PUBLISHED one matched by
key_id, never the one embedded in the receipt.

  independent_receipt_verify.py INPUT.json
INPUT: {"receipts": [<receipt>...], "published": <document> | null, "hmac_keys": [str...]}
Prints {"results": [{"receipt_id", "hash_ok", "ed25519": [key_id...], "hmac": [key_id...],
"failed": [reason...]}]} and exits 0.
"""

import base64
import hashlib
import hmac
import json
import math
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def es6_number(x):
    """ECMAScript Number::toString (what RFC 8785 prescribes for numbers)."""
    if isinstance(x, bool):
        raise TypeError("bool")
    if isinstance(x, int):
        x = float(x)
    if math.isnan(x) or math.isinf(x):
        raise ValueError("non-finite number")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + es6_number(-x)
    # Shortest round-trip digits and exponent from repr.
    r = repr(x)
    mantissa, _, exp = r.partition("e")
    exp = int(exp) if exp else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # Decimal exponent n such that x = 0.d1d2... * 10^n.
    lead_zeros = len(int_part + frac_part) - len((int_part + frac_part).lstrip("0"))
    n = len(int_part) + exp - lead_zeros
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    if k == 1:
        return digits + "e" + sign + str(abs(e))
    return digits[0] + "." + digits[1:] + "e" + sign + str(abs(e))


def jcs(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return es6_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(jcs(i) for i in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v.keys(), key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jcs(v[k]) for k in keys) + "}"
    raise TypeError(type(v))


def key_id(raw):
    return hashlib.sha256(raw).hexdigest()[:16]


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        data = json.load(f)
    published = {}
    for k in ((data.get("published") or {}).get("keys") or []):
        pub = base64.b64decode(k["public_key"])
        if key_id(pub) != k["key_id"]:
            continue  # a published key must match its id
        published[k["key_id"]] = Ed25519PublicKey.from_public_bytes(pub)
    hmac_keys = {key_id(k.encode("utf-8")): k.encode("utf-8") for k in data.get("hmac_keys") or []}

    results = []
    for text in data["receipts"]:
        receipt = json.loads(text, parse_float=float) if isinstance(text, str) else text
        body = {k: v for k, v in receipt.items() if k not in ("content_hash", "signatures")}
        signed = jcs(body).encode("utf-8")
        out = {"receipt_id": receipt.get("receipt_id"), "ed25519": [], "hmac": [], "failed": []}
        out["hash_ok"] = hashlib.sha256(signed).hexdigest() == receipt.get("content_hash")
        for sig in receipt.get("signatures") or []:
            kid = sig.get("key_id")
            value = base64.b64decode(sig.get("value", ""))
            if sig.get("algorithm") == "Ed25519" and kid in published:
                try:
                    published[kid].verify(value, signed)
                    out["ed25519"].append(kid)
                except InvalidSignature:
                    out["failed"].append("bad Ed25519 signature " + kid)
            elif sig.get("algorithm") == "HMAC-SHA256" and kid in hmac_keys:
                mac = hmac.new(hmac_keys[kid], signed, hashlib.sha256).digest()
                if hmac.compare_digest(mac, value):
                    out["hmac"].append(kid)
                else:
                    out["failed"].append("bad HMAC signature " + kid)
        results.append(out)
    json.dump({"results": results}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
