#!/usr/bin/env python3
"""A small S3 reverse proxy for tests and benchmarks: delays every request and counts them.

    s3_latency_proxy.py --upstream http://127.0.0.1:MOTO_PORT --port PORT [--delay-ms 50]

Sits between an S3 client and an S3 endpoint on loopback. Each request is held for the delay
(to model the ~50-100 ms first-byte latency of real S3 on top of a fast local endpoint), then
forwarded unchanged (method, path, query, headers including Host, body), and the upstream answer
is streamed back. Requests are counted by type:

    LIST    GET on a bucket (no key), e.g. ListObjectsV2
    HEAD    HEAD of an object
    GET     GET of an object
    PUT, DELETE, POST, OTHER

Control endpoints on the same port (never forwarded):
    GET  /__proxy/stats          JSON counters {"LIST": n, ..., "total": n, "GET_BYTES": n}
                                 (GET_BYTES: object bytes returned by GETs)
    POST /__proxy/reset          zero the counters
    POST /__proxy/delay?ms=N     change the delay

Binds 127.0.0.1 only. One thread per client connection, HTTP/1.1 keep-alive on both sides. A
malformed request gets 400 and closes that connection; nothing takes the proxy down.
"""

import argparse
import http.client
import http.server
import json
import socketserver
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade"}
KINDS = ("LIST", "HEAD", "GET", "PUT", "DELETE", "POST", "OTHER")


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {k: 0 for k in KINDS + ("GET_BYTES",)}
        self.delay_s = 0.0

    def add(self, kind):
        with self.lock:
            self.counts[kind] += 1

    def add_bytes(self, n):
        with self.lock:
            self.counts["GET_BYTES"] += n

    def snapshot(self):
        with self.lock:
            out = dict(self.counts)
        out["total"] = sum(out[k] for k in KINDS)
        return out

    def reset(self):
        with self.lock:
            self.counts = {k: 0 for k in KINDS + ("GET_BYTES",)}


def classify(method, path):
    parts = urllib.parse.urlsplit(path).path.lstrip("/").split("/", 1)
    has_key = len(parts) == 2 and parts[1] != ""
    if method == "GET":
        return "GET" if has_key else "LIST"
    if method == "HEAD":
        return "HEAD" if has_key else "OTHER"
    return method if method in KINDS else "OTHER"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3-latency-proxy"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _upstream(self):
        conn = getattr(self, "_conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.server.upstream_host,
                                              self.server.upstream_port, timeout=120)
            self._conn = conn
        return conn

    def _control(self):
        counters = self.server.counters
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/__proxy/stats" and self.command == "GET":
            body = json.dumps(counters.snapshot()).encode()
        elif url.path == "/__proxy/reset" and self.command == "POST":
            counters.reset()
            body = b"{}"
        elif url.path == "/__proxy/delay" and self.command == "POST":
            ms = urllib.parse.parse_qs(url.query).get("ms", ["0"])[0]
            try:
                counters.delay_s = max(0.0, float(ms)) / 1000.0
            except ValueError:
                self.send_error(400, "ms must be a number")
                return
            body = b"{}"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self):
        if self.path.startswith("/__proxy/"):
            self._control()
            return
        counters = self.server.counters
        counters.add(classify(self.command, self.path))
        if counters.delay_s > 0:
            time.sleep(counters.delay_s)
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.send_error(411, "chunked request bodies are not supported by this proxy")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length > 0 else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        for attempt in range(2):  # a kept-alive upstream connection may have been closed
            try:
                conn = self._upstream()
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                break
            except (http.client.HTTPException, OSError):
                self._conn = None
                if attempt == 1:
                    self.send_error(502, "upstream unreachable")
                    self.close_connection = True
                    return
        self.send_response_only(resp.status, resp.reason)
        chunked = resp.getheader("Content-Length") is None and self.command != "HEAD" \
            and resp.status not in (204, 304)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            resp.read()
            return
        kind = classify(self.command, self.path)
        while True:
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            if kind == "GET":
                self.server.counters.add_bytes(len(chunk))
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                self.wfile.write(chunk)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of the S3 endpoint")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    args = ap.parse_args()
    up = urllib.parse.urlsplit(args.upstream)
    if up.scheme != "http" or up.hostname not in ("127.0.0.1", "localhost"):
        ap.error("--upstream must be http://127.0.0.1:PORT")
    server = Server(("127.0.0.1", args.port), Handler)
    server.upstream_host = up.hostname
    server.upstream_port = up.port or 80
    server.counters = Counters()
    server.counters.delay_s = args.delay_ms / 1000.0
    server.serve_forever()


if __name__ == "__main__":
    main()
