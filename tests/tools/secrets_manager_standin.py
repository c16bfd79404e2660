#!/usr/bin/env python3
"""A local AWS Secrets Manager stand-in for the tests: GetSecretValue only, on 127.0.0.1.

Every request's SigV4 signature is checked by recomputing it with botocore's signer
(Debian's python3-botocore: botocore.auth.SigV4Auth), an implementation independent of
src/common/aws_sigv4, over the request as received. Unknown access key: 400
UnrecognizedClientException; signature mismatch or a date off by more than 5 minutes: 403
InvalidSignatureException; X-Amz-Target, Host or X-Amz-Date left unsigned: 403
IncompleteSignature. That is what the real service answers.

Usage: secrets_manager_standin.py --state FILE
FILE (JSON, read again for every request, so a test can change a secret between calls):
  {"access_key_id": "...", "secret_access_key": "...", "session_token": "" (optional),
   "region": "eu-west-1",
   "secrets": {"aragora/production": {"SecretString": "{...}"} | {"SecretBinary": "b64"}}}
  Optional "credential_endpoints": {"container_token": "..."}: the same process then also
  serves the state's credentials the way the credential endpoints do:
    GET /container-credentials (Authorization must be container_token): the ECS endpoint;
    PUT /latest/api/token, GET /latest/meta-data/iam/security-credentials/[aragora-role]
    (X-aws-ec2-metadata-token must be the token handed out): EC2 IMDSv2.
Prints one JSON line {"port": N} on stdout when listening. GET /_stats answers the counts
{"ok": n, "denied": n, "not_found": n, "credentials": n} (unsigned; the tests read it).
"""

import argparse
import datetime
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

STATS = {"ok": 0, "denied": 0, "not_found": 0, "bad_request": 0, "credentials": 0}
IMDS_TOKEN = "imds-session-token-1"
ROLE = "aragora-role"
LOCK = threading.Lock()


def count(key):
    with LOCK:
        STATS[key] += 1


def parse_authorization(value):
    """'AWS4-HMAC-SHA256 Credential=AK/20261207/eu-west-1/secretsmanager/aws4_request,
    SignedHeaders=a;b, Signature=hex' -> dict."""
    algo, _, rest = value.partition(" ")
    if algo != "AWS4-HMAC-SHA256":
        return None
    parts = {}
    for item in rest.split(","):
        key, _, val = item.strip().partition("=")
        parts[key] = val
    if not {"Credential", "SignedHeaders", "Signature"} <= parts.keys():
        return None
    scope = parts["Credential"].split("/")
    if len(scope) != 5:
        return None
    return {
        "access_key": scope[0],
        "date": scope[1],
        "region": scope[2],
        "service": scope[3],
        "terminator": scope[4],
        "signed_headers": parts["SignedHeaders"].split(";"),
        "signature": parts["Signature"],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state_file = None

    def log_message(self, fmt, *args):  # quiet: the test's output stays readable
        pass

    def answer(self, status, body, error_type=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, error_type, message, counter):
        count(counter)
        self.answer(status, {"__type": error_type, "message": message}, error_type)

    def load_state(self):
        with open(self.state_file, encoding="utf-8") as f:
            return json.load(f)

    def plain(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def credential_document(self, state):
        count("credentials")
        self.answer(200, {"Code": "Success", "Type": "AWS-HMAC",
                          "AccessKeyId": state["access_key_id"],
                          "SecretAccessKey": state["secret_access_key"],
                          "Token": state.get("session_token", ""),
                          "Expiration": "2099-01-01T00:00:00Z"})

    def do_GET(self):
        if self.path == "/_stats":
            with LOCK:
                self.answer(200, dict(STATS))
            return
        state = self.load_state()
        endpoints = state.get("credential_endpoints")
        if endpoints is not None and self.path == "/container-credentials":
            if self.headers.get("Authorization") != endpoints["container_token"]:
                return self.plain(401, "bad container token")
            return self.credential_document(state)
        prefix = "/latest/meta-data/iam/security-credentials/"
        if endpoints is not None and self.path.startswith(prefix):
            if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                return self.plain(401, "IMDSv2 token required")
            role = self.path[len(prefix):]
            if role == "":
                return self.plain(200, ROLE)
            if role != ROLE:
                return self.plain(404, "no such role")
            return self.credential_document(state)
        self.error(404, "UnknownOperationException", "GET " + self.path, "bad_request")

    def do_PUT(self):
        state = self.load_state()
        if state.get("credential_endpoints") is not None and self.path == "/latest/api/token":
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.plain(400, "ttl required")
            return self.plain(200, IMDS_TOKEN)
        self.error(404, "UnknownOperationException", "PUT " + self.path, "bad_request")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        state = self.load_state()

        auth = parse_authorization(self.headers.get("Authorization", ""))
        if auth is None:
            return self.error(403, "MissingAuthenticationTokenException",
                              "Missing Authentication Token", "denied")
        if auth["access_key"] != state["access_key_id"]:
            return self.error(400, "UnrecognizedClientException",
                              "The security token included in the request is invalid.", "denied")
        for needed in ("host", "x-amz-date", "x-amz-target"):
            if needed not in auth["signed_headers"]:
                return self.error(403, "IncompleteSignatureException",
                                  "Signed headers must include " + needed, "denied")
        amz_date = self.headers.get("X-Amz-Date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            return self.error(403, "IncompleteSignatureException", "Bad X-Amz-Date", "denied")
        if abs((datetime.datetime.utcnow() - when).total_seconds()) > 300:
            return self.error(403, "InvalidSignatureException", "Signature expired", "denied")
        if (auth["region"] != state["region"] or auth["service"] != "secretsmanager" or
                auth["date"] != amz_date[:8] or auth["terminator"] != "aws4_request"):
            return self.error(403, "InvalidSignatureException",
                              "Credential should be scoped to a valid region and service",
                              "denied")

        # The request as received, reduced to the headers the client says it signed; botocore
        # computes the signature those headers, this body and the stand-in's secret give.
        headers = {}
        for name in auth["signed_headers"]:
            value = self.headers.get(name)
            if value is None:
                return self.error(403, "IncompleteSignatureException",
                                  "Signed header " + name + " is missing", "denied")
            headers[name] = value
        request = AWSRequest(method=self.command, url="http://" + self.headers["Host"] + self.path,
                             data=body, headers=headers)
        signer = SigV4Auth(Credentials(state["access_key_id"], state["secret_access_key"],
                                       state.get("session_token") or None),
                           "secretsmanager", state["region"])
        request.context["timestamp"] = amz_date
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if expected != auth["signature"]:
            return self.error(403, "InvalidSignatureException",
                              "The request signature we calculated does not match the signature "
                              "you provided. Check your AWS Secret Access Key and signing method.",
                              "denied")

        if self.headers.get("X-Amz-Target") != "secretsmanager.GetSecretValue":
            return self.error(400, "UnknownOperationException",
                              str(self.headers.get("X-Amz-Target")), "bad_request")
        if not self.headers.get("Content-Type", "").startswith("application/x-amz-json-1.1"):
            return self.error(400, "SerializationException", "Content-Type", "bad_request")
        try:
            secret_id = json.loads(body)["SecretId"]
        except (ValueError, KeyError, TypeError):
            return self.error(400, "SerializationException", "SecretId", "bad_request")
        secret = state["secrets"].get(secret_id)
        if secret is None:
            return self.error(400, "ResourceNotFoundException",
                              "Secrets Manager can't find the specified secret.", "not_found")
        count("ok")
        answer = {
            "ARN": "arn:aws:secretsmanager:%s:000000000000:secret:%s-AbCdEf" % (state["region"],
                                                                               secret_id),
            "Name": secret_id,
            "VersionId": "00000000-0000-0000-0000-000000000001",
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": 1765000000.0,
        }
        answer.update(secret)
        self.answer(200, answer)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    args = parser.parse_args()
    Handler.state_file = args.state
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
