#!/usr/bin/env python3
"""harden test tool: serves DIR on loopback, only to requests carrying the Basic credentials USER:PASS ("-": to
every request).
Usage: auth-http-server.py DIR USER:PASS [PATH REDIRECT_BASE]   PATH (exact) answers 302 to REDIRECT_BASE + PATH.
Prints "listening on port N" and then, per request, "GET PATH authorization=<the header or ->"."""
import base64
import functools
import http.server
import sys

DIR, CREDS = sys.argv[1], sys.argv[2]
REDIRECT = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else None
WANT = None if CREDS == "-" else "Basic " + base64.b64encode(CREDS.encode()).decode()


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        auth = self.headers.get("Authorization")
        print(f"GET {self.path} authorization={auth or '-'}", flush=True)
        if WANT and auth != WANT:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="fixture"')
            self.end_headers()
            return
        if REDIRECT and self.path == REDIRECT[0]:
            self.send_response(302)
            self.send_header("Location", REDIRECT[1] + self.path)
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=DIR))
print(f"listening on port {server.server_address[1]}", flush=True)
server.serve_forever()
