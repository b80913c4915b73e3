#!/usr/bin/env python3
"""Malformed RPC/XDR against a running bucketfs: every bad input is answered with the right error or
ends only its own connection, and the server keeps serving everyone else.

Usage: bad_input_test.py BUCKETFS_BINARY
Runs bucketfs on its embedded local-directory backend (no S3 needed) on a free loopback port.
"""
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time

NFS_PROG, NFS_VERS = 100003, 4
NFS4ERR_MINOR_VERS_MISMATCH, NFS4ERR_OP_ILLEGAL, NFS4ERR_BADXDR = 10021, 10044, 10036
OP_PUTROOTFH, OP_GETFH, OP_ILLEGAL = 24, 10, 10044
failures = 0


def check(name, ok):
    global failures
    print(("ok   " if ok else "FAIL ") + name)
    failures += 0 if ok else 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(xid, prog=NFS_PROG, vers=NFS_VERS, proc=0, body=b"", rpcvers=2):
    auth_sys = struct.pack(">II", 0, 4) + b"test" + struct.pack(">III", 0, 0, 0)
    return (struct.pack(">IIIIII", xid, 0, rpcvers, prog, vers, proc) +
            struct.pack(">II", 1, len(auth_sys)) + auth_sys + struct.pack(">II", 0, 0) + body)


def frame(payload, last=True):
    return struct.pack(">I", (0x80000000 if last else 0) | len(payload)) + payload


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(10)
    return s


def read_record(s):
    data = b""
    while True:
        hdr = recv_exact(s, 4)
        if hdr is None:
            return None
        (n,) = struct.unpack(">I", hdr)
        frag = recv_exact(s, n & 0x7FFFFFFF)
        if frag is None:
            return None
        data += frag
        if n & 0x80000000:
            return data


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        try:
            chunk = s.recv(n - len(buf))
        except (ConnectionResetError, socket.timeout):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def reply_header(rec):
    """Returns (xid, reply_stat, accept_or_reject_stat, rest)."""
    xid, mtype, reply_stat = struct.unpack(">III", rec[:12])
    if reply_stat != 0:
        return xid, reply_stat, struct.unpack(">I", rec[12:16])[0], rec[16:]
    _flavor, vlen = struct.unpack(">II", rec[12:20])
    off = 20 + ((vlen + 3) & ~3)
    return xid, 0, struct.unpack(">I", rec[off:off + 4])[0], rec[off + 4:]


def compound(ops_blob, nops, minor=0, tag=b""):
    tagpad = tag + b"\0" * ((4 - len(tag) % 4) % 4)
    return struct.pack(">I", len(tag)) + tagpad + struct.pack(">II", minor, nops) + ops_blob


def rpc(port, payload):
    s = connect(port)
    s.sendall(frame(payload))
    rec = read_record(s)
    s.close()
    return rec


def alive(port):
    rec = rpc(port, call(4242))
    return rec is not None and reply_header(rec)[:3] == (4242, 0, 0)


def compound_status(rec):
    _, _, accept, rest = reply_header(rec)
    if accept != 0:
        return None
    return struct.unpack(">I", rest[:4])[0]


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "data", "demo"))
        with open(os.path.join(tmp, "data", "demo", "hello.txt"), "w") as f:
            f.write("hello\n")
        port = free_port()
        proc = subprocess.Popen([binary, "serve", "--local-dir", os.path.join(tmp, "data"),
                                 "--bucket", "demo", "--listen", f"127.0.0.1:{port}",
                                 "--state-dir", os.path.join(tmp, "state")])
        try:
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            run(port)
            check("server process still running", proc.poll() is None)
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"{failures} checks failed")
    sys.exit(1 if failures else 0)


def run(port):
    check("NULL answered", alive(port))

    # Truncated record: header promises 100 bytes, 10 arrive, then the client goes away.
    s = connect(port)
    s.sendall(struct.pack(">I", 0x80000000 | 100) + b"\0" * 10)
    s.close()
    check("truncated record: server keeps serving", alive(port))

    # Oversized fragment length: that connection is closed, others are served.
    s = connect(port)
    other = connect(port)
    s.sendall(struct.pack(">I", 0x80000000 | 0x7FFFFFF0) + b"\0" * 64)
    check("oversized record closes its connection", read_record(s) is None)
    other.sendall(frame(call(7)))
    rec = read_record(other)
    check("other connection unaffected", rec is not None and reply_header(rec)[0] == 7)
    s.close()
    other.close()

    # Multi-fragment record.
    payload = call(8)
    s = connect(port)
    s.sendall(frame(payload[:10], last=False) + frame(payload[10:25], last=False) +
              frame(payload[25:]))
    rec = read_record(s)
    check("multi-fragment call answered", rec is not None and reply_header(rec)[:3] == (8, 0, 0))
    s.close()

    rec = rpc(port, call(9, rpcvers=3))
    check("rpcvers 3 -> MSG_DENIED RPC_MISMATCH", reply_header(rec)[1:3] == (1, 0))
    rec = rpc(port, call(10, prog=100099))
    check("unknown program -> PROG_UNAVAIL", reply_header(rec)[1:3] == (0, 1))
    rec = rpc(port, call(11, vers=2))
    check("NFS version 2 -> PROG_MISMATCH", reply_header(rec)[1:3] == (0, 2))
    rec = rpc(port, call(12, proc=7))
    check("unknown procedure -> PROC_UNAVAIL", reply_header(rec)[1:3] == (0, 3))

    rec = rpc(port, call(13, proc=1, body=compound(struct.pack(">I", OP_PUTROOTFH), 1, minor=7)))
    check("minor version 7 -> NFS4ERR_MINOR_VERS_MISMATCH",
          compound_status(rec) == NFS4ERR_MINOR_VERS_MISMATCH)
    rec = rpc(port, call(14, proc=1, body=compound(struct.pack(">II", OP_PUTROOTFH, 9999), 2)))
    check("unknown op -> NFS4ERR_OP_ILLEGAL", compound_status(rec) == NFS4ERR_OP_ILLEGAL)
    rec = rpc(port, call(15, proc=1,
                         body=compound(struct.pack(">II", OP_PUTROOTFH, OP_GETFH) + b"junk", 2)))
    check("garbage after the last op -> NFS4ERR_BADXDR", compound_status(rec) == NFS4ERR_BADXDR)
    rec = rpc(port, call(16, proc=1, body=compound(b"", 0xFFFFFFFF)))
    status = compound_status(rec) if rec else None
    check("op count 2^32-1 is refused", rec is not None and (
        reply_header(rec)[2] == 4 or status not in (None, 0)))
    rec = rpc(port, call(17, proc=1, body=struct.pack(">I", 0xFFFFFFF0)))
    check("tag length beyond the record -> GARBAGE_ARGS", reply_header(rec)[1:3] == (0, 4))

    rng = random.Random(1)
    for i in range(200):
        s = connect(port)
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300)))
        if i % 2:
            junk = frame(call(100 + i, proc=1)[:rng.randrange(0, 60)] + junk)
        s.sendall(junk)
        s.settimeout(0.2)
        try:
            s.recv(4096)
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
    check("200 connections of random garbage: server keeps serving", alive(port))


if __name__ == "__main__":
    main()
