#!/usr/bin/env python3
"""harden test tool: N connections that trickle a request one byte per second (a slowloris).
Usage: slow-clients.py HOST PORT N SECONDS
Prints JSON {"closed": how many the server closed within SECONDS, "open": how many were still open, "latest": the
latest close in seconds after the start}."""
import json, socket, sys, time

host, port, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096 + b"\r\n\r\n"
conns = []
for _ in range(n):
    s = socket.create_connection((host, port), timeout=5)
    s.setblocking(False)
    conns.append({"sock": s, "sent": 0, "closed": None})
start = time.time()
while time.time() - start < limit and any(c["closed"] is None for c in conns):
    for c in conns:
        if c["closed"] is not None:
            continue
        try:
            if c["sock"].recv(4096) == b"":
                c["closed"] = time.time() - start
                continue
        except BlockingIOError:
            pass
        except OSError:
            c["closed"] = time.time() - start
            continue
        try:
            c["sock"].send(request[c["sent"]:c["sent"] + 1])
            c["sent"] += 1
        except OSError:
            c["closed"] = time.time() - start
    time.sleep(1.0)
closed = [c["closed"] for c in conns if c["closed"] is not None]
print(json.dumps({"closed": len(closed), "open": n - len(closed), "latest": max(closed) if closed else None}))
