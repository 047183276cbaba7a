#!/usr/bin/env python3
"""The housing associations' API for the Amagerplanen demo: HTTPS on
127.0.0.1 only, OAuth2 client credentials, next-link pagination.

    rest_server.py --data EXPORT.json --certs DIR --secret-file FILE
                   --port-file FILE [--port N] [--client-id ID]

It is the integration tests' API server (tests/integration/api_server.py:
TLS, the token endpoint, token checks, the request log) with one more
endpoint and the demo's data instead of the test records:

  POST /oauth/token   client credentials (HTTP basic client auth) of
                      --client-id and the secret in --secret-file (a file
                      of mode 0600 holding only the secret); scope
                      "export:read"
  GET  /v1/export     {"data": {"tenancies": [...], "arrears_cases": [...]},
                       "links": {"next": "/v1/export?after=N&limit=L"}}
                      (?after= from 0, &limit=, default 100); a page holds
                      the next slice of both lists, the last page has
                      "next": null

The certificates are tests/integration/certs.sh's make_certs DIR (a CA
made on this machine; the client trusts DIR/ca.pem).  The port (free, or
--port) is written to --port-file once the server listens.  It runs until
SIGTERM (contrib/demo.sh --stop).  All data is synthetic
(contrib/demo/gen_demo.py).
"""

import argparse
import json
import os
import signal
import ssl
import stat
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import api_server as api  # noqa: E402  (the tests' server, reused)


class DemoHandler(api.Handler):
    server_version = "amagerplanen-demo-api/1"

    def ep_export(self, q, recs):
        ex = self.server.export
        after = max(0, self.num(q, "after", 0))
        limit = min(max(1, self.num(q, "limit", 100)), 1000)
        t = ex["tenancies"][after:after + limit]
        a = ex["arrears_cases"][after:after + limit]
        nxt = None
        if after + limit < max(len(ex["tenancies"]), len(ex["arrears_cases"])):
            nxt = "/v1/export?" + urllib.parse.urlencode({"after": after + limit, "limit": limit})
        return self.send_json(200, {"data": {"tenancies": t, "arrears_cases": a},
                                    "links": {"next": nxt}})


def read_secret(path):
    st = os.stat(path)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        sys.exit("rest_server.py: %s must be mode 0600" % path)
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def main():
    p = argparse.ArgumentParser(description="the demo's housing API")
    p.add_argument("--data", required=True)
    p.add_argument("--certs", required=True)
    p.add_argument("--secret-file", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--client-id", default="amagerplanen")
    a = p.parse_args()

    api.CLIENT_ID = a.client_id
    api.CLIENT_SECRET = read_secret(a.secret_file)
    api.SCOPE = "export:read"
    with open(a.data, encoding="utf-8") as f:
        export = json.load(f)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(a.certs, "server.pem"), os.path.join(a.certs, "server.key"))
    srv = api.Server(("127.0.0.1", a.port), ctx, api.State([]))
    srv.RequestHandlerClass = DemoHandler
    srv.export = export
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, a.port_file)
    try:
        srv.serve_forever(poll_interval=0.5)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
