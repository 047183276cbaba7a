#!/usr/bin/env python3
"""tests/integration/https_server.py: the HTTPS server of the integration
tests (started by servers.sh's https_start; python3 standard library only).

Serves the files of --dir over TLS on 127.0.0.1 (GET and HEAD; POST answers
with the file at the path, for SOAP-style tests, and keeps the request body).
With --client-ca it requires a client certificate signed by that CA.

Fault injection, read again on every request so that a test can change it
while the server runs: when DIR/.faults exists, each line

    PATH STATUS [N] [RETRY_AFTER]

makes the server answer STATUS to the first N requests of PATH (every
request when N is omitted or '-'), with a Retry-After header when
RETRY_AFTER is given; for a 3xx STATUS the fourth field is instead the
Location to redirect to. Counting starts when the line first appears; a line
that changes starts a new count.  '#' starts a comment.  STATUS
"truncate" (GET only) answers 200 with the file's full Content-Length but
sends only the first half of it, waits half a second (so that the client
has used what it got) and closes the connection: a transfer that fails
after data was delivered.  STATUS "cut" does the same without the wait, so
that the client most likely sees the cut before it has used any byte.

Every request is logged as one JSON object a line to --log:
{"method": ..., "path": ..., "status": ..., "headers": {...}, "body_len": N}
and the body of the last POST is written to LOG.body.  TLS handshake
failures are logged as {"event": "tls_error", "error": ...}.

The server writes its port to --port-file once it listens, and exits on
SIGTERM, or by itself when the process --owner names is gone (so a test
file killed with -9 leaves no server behind).
"""

import argparse
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time


def proc_start(pid):
    """Start time of a process (field 22 of its /proc stat), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return fields[19]


class Faults:
    """The .faults file and how many requests each line has answered."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.counts = {}

    def match(self, req_path, method):
        """(status, retry_after) to answer with, or None."""
        try:
            with open(self.path) as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        with self.lock:
            for line in lines:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                parts = line.split()
                if parts[0] != req_path or len(parts) < 2:
                    continue
                status = parts[1]
                if status in ("truncate", "cut") and method != "GET":
                    continue
                limit = None
                if len(parts) > 2 and parts[2] != "-":
                    limit = int(parts[2])
                retry_after = parts[3] if len(parts) > 3 else None
                n = self.counts.get(line, 0)
                if limit is not None and n >= limit:
                    continue
                self.counts[line] = n + 1
                return status, retry_after
        return None


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "samspor-test"
    sys_version = ""

    def setup(self):
        # The TLS handshake runs here, in the connection's own thread, so a
        # client that fails it (no client certificate) blocks nobody.
        tls = self.server.tls.wrap_socket(self.request, server_side=True,
                                          do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError) as e:
            self.server.log({"event": "tls_error", "error": str(e)})
            self.linger(tls)
            raise
        self.request = tls
        super().setup()

    @staticmethod
    def linger(tls):
        """Close a connection whose handshake failed without resetting it:
        with TLS 1.3 the client has sent its request before the server
        refuses its certificate, and closing with those bytes unread would
        send a TCP reset that can overtake the TLS alert, leaving the client
        to see "connection reset" instead of the refusal.  Read until the
        client closes (at most a second), then close."""
        try:
            raw = socket.socket(fileno=os.dup(tls.fileno()))
        except OSError:
            return
        try:
            raw.shutdown(socket.SHUT_WR)
            raw.settimeout(1)
            while raw.recv(65536):
                pass
        except OSError:
            pass
        finally:
            raw.close()

    def log_message(self, fmt, *args):
        pass

    def log_request(self, code="-", size="-"):
        try:
            code = int(code)
        except (TypeError, ValueError):
            code = str(code)
        self.server.log({
            "method": self.command,
            "path": self.path,
            "status": code,
            "headers": {k: v for k, v in self.headers.items()},
            "body_len": getattr(self, "body_len", 0),
        })

    def fault(self):
        hit = self.server.faults.match(self.path.split("?", 1)[0],
                                       self.command)
        if not hit:
            return False
        status, retry_after = hit
        if status in ("truncate", "cut"):
            self.truncated(status)
            return True
        status = int(status)
        body = b"injected fault\n"
        self.send_response(status)
        if retry_after is not None and 300 <= status <= 399:
            self.send_header("Location", retry_after)
        elif retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return True

    def truncated(self, how):
        path = self.translate_path(self.path)
        with open(path, "rb") as f:
            data = f.read()
        self.send_response_only(200)  # logged below, as "truncate"
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        if how == "truncate":
            time.sleep(0.5)
        self.close_connection = True
        self.log_request(how)
        raise ConnectionAbortedError("fault: truncated")

    def do_GET(self):
        if not self.fault():
            super().do_GET()

    def do_HEAD(self):
        if not self.fault():
            super().do_HEAD()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        self.body_len = len(body)
        with open(self.server.log_path + ".body", "wb") as f:
            f.write(body)
        if not self.fault():
            super().do_GET()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def log(self, obj):
        with self.log_lock:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(obj, sort_keys=True) + "\n")

    def handle_error(self, request, client_address):
        # A client that hung up or failed TLS: logged above, not a traceback.
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--client-ca")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--owner", type=int)
    a = ap.parse_args()

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(a.cert, a.key)
    if a.client_ca:
        tls.verify_mode = ssl.CERT_REQUIRED
        tls.load_verify_locations(a.client_ca)

    directory = os.path.abspath(a.dir)

    class H(Handler):
        def __init__(self, *args, **kw):
            super().__init__(*args, directory=directory, **kw)

    srv = Server(("127.0.0.1", 0), H)
    srv.tls = tls
    srv.log_path = a.log
    srv.log_lock = threading.Lock()
    srv.faults = Faults(os.path.join(directory, ".faults"))

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if a.owner:
        start = proc_start(a.owner)

        def watch():
            while proc_start(a.owner) == start and start is not None:
                time.sleep(1)
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()

    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
