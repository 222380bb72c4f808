"""Measurement aid only (not part of the product): a reverse proxy that validates the
Keystone token of each request, as keystonemiddleware would, and forwards it to a noauth
zaqar-server with X-Project-ID and X-Roles from the token."""
import http.server, json, sys, urllib.request, urllib.error, threading

KS, UPSTREAM, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])

def service_token():
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "admin-pw"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    req = urllib.request.Request(KS + "/auth/tokens", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    return urllib.request.urlopen(req).headers["X-Subject-Token"]

ADMIN = service_token()
CACHE = {}

def validate(token):
    if token in CACHE:
        return CACHE[token]
    req = urllib.request.Request(KS + "/auth/tokens", headers={
        "X-Auth-Token": ADMIN, "X-Subject-Token": token})
    try:
        t = json.load(urllib.request.urlopen(req))["token"]
    except urllib.error.HTTPError:
        return None
    out = (t["project"]["id"], ",".join(r["name"] for r in t["roles"]))
    CACHE[token] = out
    return out

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def go(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        who = validate(self.headers.get("X-Auth-Token", ""))
        if who is None:
            self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers(); return
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("x-project-id", "x-roles", "host", "content-length")}
        headers["X-Project-ID"], headers["X-Roles"] = who
        req = urllib.request.Request(UPSTREAM + self.path, body, headers, method=self.command)
        try:
            r = urllib.request.urlopen(req)
        except urllib.error.HTTPError as e:
            r = e
        data = r.read()
        self.send_response(r.status)
        for k, v in r.headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = go

http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
