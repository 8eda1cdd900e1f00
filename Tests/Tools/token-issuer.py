#!/usr/bin/env python3
"""harden test tool: a tiny bearer-token issuer for Distribution's `auth: token` mode.
Usage: token-issuer.py PORT CERT_OUT USER PASSWORD
Writes a self-signed EC certificate to CERT_OUT (the registry's rootcertbundle), then serves
GET /token?service=S&scope=repository:NAME:ACTIONS on 127.0.0.1:PORT, checking HTTP Basic credentials and
answering {"token": JWT} signed with ES256 (x5c header carrying the certificate)."""
import base64, datetime, json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

port, cert_path, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "harden-test-issuer")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
with open(cert_path, "wb") as f:
    f.write(cert.public_bytes(serialization.Encoding.PEM))
der = cert.public_bytes(serialization.Encoding.DER)

def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def token(subject, service, scopes):
    access = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        repo, _, actions = rest.rpartition(":")
        access.append({"type": kind, "name": repo, "actions": [a for a in actions.split(",") if a]})
    t = int(time.time())
    header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": "harden-test-issuer", "sub": subject, "aud": service, "exp": t + 600, "nbf": t - 30, "iat": t,
              "jti": b64(os.urandom(12)), "access": access}
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        if url.path != "/token":
            self.send_error(404)
            return
        auth = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if auth != expected:
            self.send_error(401)
            return
        q = parse_qs(url.query)
        body = json.dumps({"token": token(user, q.get("service", [""])[0], q.get("scope", []))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        sys.stderr.write("token: " + (args[0] % args[1:]) + "\n")

server = HTTPServer(("127.0.0.1", port), Handler)  # port 0: the kernel chooses, said on standard output
print("listening on port %d" % server.server_port, flush=True)
server.serve_forever()
