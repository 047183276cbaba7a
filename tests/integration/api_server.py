#!/usr/bin/env python3
"""A REST/JSON test API over HTTPS on 127.0.0.1, for tests/integration/test_rest.sh.

    api_server.py serve --certs DIR --port-file FILE [--require-client-cert]
                        [--records N] [--seed S] [--parent PID]
    api_server.py ctl --certs DIR --port PORT METHOD PATH [JSON]

`serve` listens on a free port of 127.0.0.1 (written to --port-file once it
is listening), with the server certificate of tests/integration/certs.sh's
make_certs DIR, optionally requiring a client certificate signed by its CA.
It exits when its parent process (--parent, default the one that started
it) is gone, so a killed test never leaves it behind.

Everything is synthetic: N tenancies generated from the seed, each with a
made-up CPR number (a real calendar date, random digits), a made-up name
and address, a housing area, move-in/out dates, arrears and an eviction
flag. Nothing here is real data or a real secret.

Endpoints (all JSON):
  POST /oauth/token            OAuth2 client credentials (HTTP basic client
                               auth; scope "tenancies:read"); tokens expire
                               after token_ttl seconds or token_max_uses uses
  GET  /v1/next/tenancies      {"data":{"items":[...]},"links":{"next":...}}
                               (?after=&limit=; next link relative, or
                               absolute on ?next_host=)
  GET  /v1/link/tenancies      [...] with an RFC 8288 Link header (?page=&
                               per_page=; several links, quoted params,
                               a relative next target)
  GET  /v1/page/tenancies      {"items":[...]} (?page= from 1, &limit=)
  GET  /v1/offset/tenancies    {"results":[...]} (?offset=&limit=)
  GET  /v1/cursor/tenancies    {"data":[...],"meta":{"next_cursor":...}}
                               (?cursor=&limit=)
  POST /v1/search              {"data":{"items":[...]}}; the body's
                               "modified_since" filters
  GET  /v1/malformed           page 1 good, page 2 truncated JSON
  GET  /v1/mixed               {"items":[...]} with some items not objects
                               (?page=&limit=)
  GET  /v1/big                 a page of ?bytes= bytes
  GET  /v1/pad                 ?pages= pages of one record and ?pad= bytes
                               of padding each (next link "next")
  GET  /v1/tiny                a page of about ?bytes= bytes: records under
                               "items", and ?share= percent of the bytes
                               empty arrays under "junk"
Every /v1/ endpoint filters by ?modified_since=YYYY-MM-DD (empty: all) and
answers 401 without valid credentials (a static bearer token, basic
user:password, or a live OAuth2 token) unless auth_required is false.

Control (no auth; client certificate still required when the server
requires one):
  POST /_control  {"reset": true, "inject": [{"status": 429, "times": 1,
                  "retry_after": "1", "path": "/v1/"}], "token_ttl": 3600,
                  "token_max_uses": null, "reject_tokens": false,
                  "auth_required": true}
  GET  /_log      {"requests": [...], "tokens_issued": N, "records": [...]}
"""

import argparse
import base64
import json
import os
import random
import secrets
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BEARER = "static-bearer-token-1"
BASIC_USER, BASIC_PASSWORD = "tenant-api", "basic-pw-1"
CLIENT_ID, CLIENT_SECRET = "samspor-client", "client-secret-1"
SCOPE = "tenancies:read"
AREAS = ["Urbanplanen", "Hørgården", "Remiseparken", "Tingbjerg"]


def make_records(n, seed):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        y = rnd.randint(1940, 2005)
        m = rnd.randint(1, 12)
        d = rnd.randint(1, 28)
        # 7th digit consistent with the century (CPR office's table).
        seventh = rnd.choice("0123") if y < 2000 else "4"
        cpr = "%02d%02d%02d-%s%03d" % (d, m, y % 100, seventh, rnd.randint(0, 999))
        move_in = "20%02d-%02d-%02d" % (rnd.randint(5, 24), rnd.randint(1, 12), rnd.randint(1, 28))
        out.append({
            "tenancy_id": 1000 + i,
            "tenant": {"cpr": cpr, "name": "Lejer %d Testesen" % i},
            "unit": {"area": AREAS[i % len(AREAS)], "address": "Testvej %d, 2300 S" % (i + 1)},
            "move_in": move_in,
            "move_out": None if i % 3 else "2025-%02d-01" % (i % 12 + 1),
            "arrears_dkk": [0, 1234.5, 12000, 99.95][i % 4],
            "eviction": i % 7 == 0,
            "modified": "2026-01-%02d" % (i % 20 + 1),
            "tags": ["t%d" % (i % 5), "x"],
        })
    return out


class State:
    def __init__(self, records):
        self.lock = threading.Lock()
        self.records = records
        self.reset()

    def reset(self):
        self.log = []
        self.inject = []
        self.tokens = {}  # token -> [issued_at, uses]
        self.issued = 0
        self.token_ttl = 3600
        self.token_max_uses = None
        self.reject_tokens = False
        self.auth_required = True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 20
    server_version = "samspor-test-api/1"

    def log_message(self, fmt, *args):  # quiet: the request log is /_log
        pass

    # ---- plumbing -------------------------------------------------------

    def send_json(self, status, obj, headers=None, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.record["status"] = status

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def handle_any(self, method):
        st = self.server.state
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        raw = self.body() if method == "POST" else b""
        self.record = {"method": method, "path": u.path, "query": q,
                       "raw_query": u.query, "auth": None, "token": None,
                       "status": None, "time": time.time()}
        if u.path.startswith("/v1/") and method == "POST":
            self.record["body"] = raw.decode("utf-8", "replace")
        if u.path in ("/_control", "/_log"):
            return self.control(method, u.path, raw)
        with st.lock:
            st.log.append(self.record)
            for inj in st.inject:
                if inj.get("times", 0) > 0 and u.path.startswith(inj.get("path", "/v1/")):
                    inj["times"] -= 1
                    hdr = {}
                    if inj.get("retry_after") is not None:
                        hdr["Retry-After"] = str(inj["retry_after"])
                    return self.send_json(inj["status"], {"error": "injected"}, hdr)
        if u.path == "/oauth/token" and method == "POST":
            return self.token(raw)
        if not u.path.startswith("/v1/"):
            return self.send_json(404, {"error": "not_found"})
        if not self.authorised():
            return self.send_json(401, {"error": "invalid_token"},
                                  {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        since = q.get("modified_since", "")
        if method == "POST" and u.path == "/v1/search":
            try:
                since = json.loads(raw or b"{}").get("modified_since", "")
            except ValueError:
                return self.send_json(400, {"error": "bad_json"})
        recs = [r for r in st.records if not since or r["modified"] >= since]
        route = getattr(self, "ep_" + u.path[len("/v1/"):].replace("/", "_"), None)
        if route is None or (method == "POST") != (u.path == "/v1/search"):
            return self.send_json(404, {"error": "not_found"})
        return route(q, recs)

    def authorised(self):
        st = self.server.state
        a = self.headers.get("Authorization", "")
        if a.startswith("Bearer "):
            tok = a[7:]
            self.record["auth"] = "bearer"
            self.record["token"] = tok
            if tok == BEARER:
                return True
            with st.lock:
                t = st.tokens.get(tok)
                if t is None or st.reject_tokens:
                    return False
                if time.time() > t[0] + st.token_ttl:
                    return False
                if st.token_max_uses is not None and t[1] >= st.token_max_uses:
                    return False
                t[1] += 1
                return True
        if a.startswith("Basic "):
            self.record["auth"] = "basic"
            try:
                user, _, pw = base64.b64decode(a[6:]).decode().partition(":")
            except ValueError:
                return False
            return user == BASIC_USER and pw == BASIC_PASSWORD
        return not st.auth_required

    # ---- OAuth2 ---------------------------------------------------------

    def token(self, raw):
        st = self.server.state
        a = self.headers.get("Authorization", "")
        self.record["auth"] = "basic" if a.startswith("Basic ") else None
        try:
            cid, _, csec = base64.b64decode(a[6:]).decode().partition(":")
        except ValueError:
            cid = csec = None
        if not a.startswith("Basic ") or cid != CLIENT_ID or csec != CLIENT_SECRET:
            return self.send_json(401, {"error": "invalid_client"},
                                  {"WWW-Authenticate": 'Basic realm="token"'})
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        self.record["form"] = form
        if form.get("grant_type") != "client_credentials":
            return self.send_json(400, {"error": "unsupported_grant_type"})
        if form.get("scope", SCOPE) != SCOPE:
            return self.send_json(400, {"error": "invalid_scope"})
        tok = "tok-" + secrets.token_hex(12)
        with st.lock:
            st.issued += 1
            st.tokens[tok] = [time.time(), 0]
            ttl = st.token_ttl
        self.record["issued"] = tok
        return self.send_json(200, {"access_token": tok, "token_type": "Bearer",
                                    "expires_in": ttl, "scope": SCOPE})

    # ---- control --------------------------------------------------------

    def control(self, method, path, raw):
        st = self.server.state
        if path == "/_log":
            with st.lock:
                return self.send_json(200, {"requests": st.log, "tokens_issued": st.issued,
                                            "records": st.records})
        try:
            c = json.loads(raw or b"{}")
        except ValueError:
            return self.send_json(400, {"error": "bad_json"})
        with st.lock:
            if c.get("reset"):
                st.reset()
            for k in ("inject", "token_ttl", "token_max_uses", "reject_tokens", "auth_required"):
                if k in c:
                    setattr(st, k, c[k])
        return self.send_json(200, {"ok": True})

    # ---- data endpoints -------------------------------------------------

    @staticmethod
    def num(q, name, default):
        try:
            return int(q.get(name, default))
        except ValueError:
            return default

    def ep_next_tenancies(self, q, recs):
        after, limit = self.num(q, "after", 0), self.num(q, "limit", 25)
        page = recs[after:after + limit]
        nxt = None
        if after + limit < len(recs):
            nq = {"after": after + limit, "limit": limit,
                  "modified_since": q.get("modified_since", "")}
            nxt = "/v1/next/tenancies?" + urllib.parse.urlencode(nq)
            if q.get("next_host"):  # a next link to another origin
                nxt = "https://%s:%d%s" % (q["next_host"], self.server.server_address[1], nxt)
        return self.send_json(200, {"data": {"items": page}, "links": {"next": nxt}})

    def ep_link_tenancies(self, q, recs):
        pg, per = self.num(q, "page", 1), self.num(q, "per_page", 25)
        page = recs[(pg - 1) * per:pg * per]
        last = max(1, (len(recs) + per - 1) // per)
        ms = urllib.parse.quote(q.get("modified_since", ""))
        port = self.server.server_address[1]
        links = ['<https://127.0.0.1:%d/v1/link/tenancies?page=1&per_page=%d&modified_since=%s>; rel="first"'
                 % (port, per, ms)]
        if pg > 1:
            links.append('</v1/link/tenancies?page=%d&per_page=%d&modified_since=%s>; rel=prev' % (pg - 1, per, ms))
        if pg < last:
            # Relative to the current URL, after params with a comma and a
            # semicolon in a quoted string, rel not first.
            links.append('<?page=%d&per_page=%d&modified_since=%s>; title="next, page; %d"; REL="Next"'
                         % (pg + 1, per, ms, pg + 1))
        links.append('<https://127.0.0.1:%d/v1/link/tenancies?page=%d&per_page=%d>; rel="last"' % (port, last, per))
        return self.send_json(200, page, {"Link": ", ".join(links)})

    def ep_page_tenancies(self, q, recs):
        pg, limit = self.num(q, "page", 1), self.num(q, "limit", 25)
        return self.send_json(200, {"items": recs[(pg - 1) * limit:pg * limit], "page": pg})

    def ep_offset_tenancies(self, q, recs):
        off, limit = self.num(q, "offset", 0), self.num(q, "limit", 25)
        return self.send_json(200, {"results": recs[off:off + limit], "total": len(recs)})

    def ep_cursor_tenancies(self, q, recs):
        c, limit = q.get("cursor", ""), self.num(q, "limit", 25)
        start = int(base64.urlsafe_b64decode(c.encode()).decode()[2:]) if c else 0
        nxt = None
        if start + limit < len(recs):
            nxt = base64.urlsafe_b64encode(("c:%d" % (start + limit)).encode()).decode()
        return self.send_json(200, {"data": recs[start:start + limit], "meta": {"next_cursor": nxt}})

    def ep_search(self, q, recs):
        return self.send_json(200, {"data": {"items": recs}})

    def ep_malformed(self, q, recs):
        pg = self.num(q, "page", 1)
        if pg == 1:
            return self.send_json(200, {"items": recs[:10], "next": "/v1/malformed?page=2"})
        good = json.dumps({"items": recs[10:20], "next": None}).encode()
        return self.send_json(200, None, raw=good[:len(good) // 2])

    def ep_mixed(self, q, recs):
        pg, limit = self.num(q, "page", 1), self.num(q, "limit", 5)
        items = list(recs[(pg - 1) * limit:pg * limit])
        if pg == 2 and len(items) >= 3:
            items[2] = "not an object"
            items[4:4] = [[1, 2], None]
        return self.send_json(200, {"items": items})

    def ep_pad(self, q, recs):
        pg, pages, pad = self.num(q, "page", 1), self.num(q, "pages", 10), self.num(q, "pad", 100000)
        nxt = "/v1/pad?page=%d&pages=%d&pad=%d" % (pg + 1, pages, pad) if pg < pages else None
        return self.send_json(200, {"items": [recs[pg % len(recs)]], "pad": "x" * pad, "next": nxt})

    def ep_tiny(self, q, recs):
        n, share = self.num(q, "bytes", 100000), self.num(q, "share", 0)
        junk = n * share // 100
        items, size, i = [], 0, 0
        while size < n - junk:
            r = json.dumps(recs[i % len(recs)])
            items.append(r)
            size += len(r) + 1
            i += 1
        body = '{"items":[%s],"junk":[%s]}' % (",".join(items), ",".join(["[]"] * (junk // 3)))
        return self.send_json(200, None, raw=body.encode())

    def ep_big(self, q, recs):
        n = self.num(q, "bytes", 100000)
        filler = "x" * max(0, n - 40)
        return self.send_json(200, {"items": [], "pad": filler})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, sslctx, state):
        super().__init__(addr, Handler)
        self.sslctx = sslctx
        self.state = state

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the request's thread, so that a
        # client that stalls or fails it holds up nobody else.
        request.settimeout(20)
        tls = self.sslctx.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError):
            # A refused handshake (no or a wrong client certificate): the
            # alert is sent; close gently, as real servers do, so that the
            # client reads it instead of a connection reset (under TLS 1.3
            # the client has sent its request by now).
            try:
                raw = socket.socket(fileno=tls.detach())
                raw.shutdown(socket.SHUT_WR)
                raw.settimeout(1)
                while raw.recv(65536):
                    pass
            except OSError:
                pass
            finally:
                try:
                    raw.close()
                except (OSError, UnboundLocalError):
                    pass
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def watch_parent(pid):
    """Exit once process pid is gone (a killed test file leaves no server)."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(1)


def serve(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(a.certs, "server.pem"), os.path.join(a.certs, "server.key"))
    if a.require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(os.path.join(a.certs, "ca.pem"))
    state = State(make_records(a.records, a.seed))
    srv = Server(("127.0.0.1", 0), ctx, state)
    threading.Thread(target=watch_parent, args=(a.parent or os.getppid(),), daemon=True).start()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


def ctl(a):
    ctx = ssl.create_default_context(cafile=os.path.join(a.certs, "ca.pem"))
    ctx.load_cert_chain(os.path.join(a.certs, "client.pem"), os.path.join(a.certs, "client.key"))
    data = a.json.encode() if a.json is not None else None
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (a.port, a.path), data=data, method=a.method)
    with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
        sys.stdout.write(r.read().decode())


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--certs", required=True)
    s.add_argument("--port-file", required=True)
    s.add_argument("--require-client-cert", action="store_true")
    s.add_argument("--records", type=int, default=137)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--parent", type=int, default=0)
    c = sub.add_parser("ctl")
    c.add_argument("--certs", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("method")
    c.add_argument("path")
    c.add_argument("json", nargs="?")
    a = p.parse_args()
    serve(a) if a.cmd == "serve" else ctl(a)


if __name__ == "__main__":
    main()
