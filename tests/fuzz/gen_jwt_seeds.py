#!/usr/bin/env python3
"""Writes the seed tokens of corpus/jwt_fuzz/ (run from tests/fuzz/). The secrets, issuer,
audience and clock are those of jwt_fuzz.cpp, so the valid seeds verify there."""
import base64
import hashlib
import hmac
import json
import os

SECRET = b"fuzz-current-secret"
PREVIOUS = b"fuzz-previous-secret"
NOW = 1_700_000_000
OUT = "corpus/jwt_fuzz"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(header, claims, secret=SECRET, digest=hashlib.sha256) -> str:
    head = b64(json.dumps(header, separators=(",", ":")).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}".encode()
    if secret is None:
        return f"{head}.{body}."
    return f"{head}.{body}.{b64(hmac.new(secret, signing_input, digest).digest())}"


HS256 = {"alg": "HS256", "typ": "JWT"}
CLAIMS = {"sub": "usr_0123456789abcdef", "email": "ada@example.com", "role": "admin",
          "org_id": "org_1", "typ": "access", "jti": "jti_1", "iss": "aragora",
          "aud": "aragora-api", "iat": NOW - 60, "exp": NOW + 3600}

seeds = {
    "valid.jwt": token(HS256, CLAIMS),
    "valid_previous_key.jwt": token(HS256, CLAIMS, PREVIOUS),
    "valid_aud_array_nbf.jwt": token(HS256, {**CLAIMS, "aud": ["other", "aragora-api"],
                                             "nbf": NOW - 10}),
    "valid_minimal.jwt": token(HS256, {"sub": "u", "exp": NOW + 60}),
    "expired.jwt": token(HS256, {**CLAIMS, "exp": NOW - 3600}),
    "not_yet_valid.jwt": token(HS256, {**CLAIMS, "nbf": NOW + 3600}),
    "wrong_issuer.jwt": token(HS256, {**CLAIMS, "iss": "someone-else", "exp": 1.7e9 + 7200}),
    "alg_none.jwt": token({"alg": "none", "typ": "JWT"}, CLAIMS, None),
    "alg_hs512.jwt": token({"alg": "HS512", "typ": "JWT"}, CLAIMS, SECRET, hashlib.sha512),
    "crit_header.jwt": token({"alg": "HS256", "crit": ["exp"]}, CLAIMS),
    "bad_signature.jwt": token(HS256, CLAIMS, b"wrong-secret"),
    # payload-only inputs: jwt_fuzz.cpp signs them itself (see its header comment)
    "payload_claims.json": json.dumps(CLAIMS, separators=(",", ":")),
    "payload_types.json": '{"sub":"u","exp":9223372036854775807,"iat":-1,"nbf":1.0e3,'
                          '"aud":[1,"aragora-api"],"email":null}',
    "header_and_payload.txt": '{"alg":"HS256","kid":"k1"}\n{"sub":"u","exp":1700000600}',
}

os.makedirs(OUT, exist_ok=True)
for name, text in seeds.items():
    with open(os.path.join(OUT, name), "w") as f:
        f.write(text)
