#!/usr/bin/env python3
"""Fills an S3 bucket with the read-path test dataset and writes what NFS clients must see.

The dataset is what other tools leave in a bucket: implicit directories (no marker objects), one
marker directory, s3fs-style metadata on a few objects, a symlink object, keys that cannot be file
names, a key that is both a file and a prefix, a 10,000-key directory, and files of 0 B, 1 B,
1 MiB + 1 and 64 MiB.

Usage: fill_bucket.py ENDPOINT BUCKET OUTDIR
Writes OUTDIR/expected.sha256 (sha256sum -c format, paths relative to the export root),
OUTDIR/sample.sha256 (a subset for slow clients), OUTDIR/tenk.names (sorted names in big/10k).
"""
import concurrent.futures
import hashlib
import os
import random
import sys

import boto3
from botocore.config import Config


def main():
    endpoint, bucket, outdir = sys.argv[1:4]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test",
                      config=Config(max_pool_connections=16, retries={"max_attempts": 5}))
    s3.create_bucket(Bucket=bucket)
    files = {}  # visible path -> bytes

    def put(key, body, meta=None, visible=True):
        s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=meta or {})
        if visible:
            files[key] = body

    rng = random.Random(42)
    put("empty.bin", b"")
    put("one.bin", b"x")
    put("sizes/mib-plus-one.bin", rng.randbytes(1024 * 1024 + 1))
    put("sizes/big64.bin", rng.randbytes(64 * 1024 * 1024))
    for i in range(3):
        put(f"datasets/train/shard-{i:03d}.tar", rng.randbytes(100_000 + i))
    put("a/b/c/d/deep.txt", b"deep\n")
    put("a/top.txt", b"top\n")
    # A directory with a marker object, and an empty directory that exists only as a marker.
    s3.put_object(Bucket=bucket, Key="with-marker/", Body=b"")
    put("with-marker/inside.txt", b"inside\n")
    s3.put_object(Bucket=bucket, Key="empty-dir/", Body=b"")
    # s3fs metadata: regular file 0640 owned by 1000:1000, and a symlink to it.
    put("meta/owned.txt", b"owned\n",
        {"mode": str(0o100640), "uid": "1000", "gid": "1000", "mtime": "1700000000"})
    s3.put_object(Bucket=bucket, Key="meta/link", Body=b"owned.txt",
                  Metadata={"mode": str(0o120777), "mtime": "1700000000"})
    # Keys that cannot be names are hidden; the directory wins over a same-named object.
    put("bad//double.txt", b"hidden", visible=False)
    put("bad/./dot.txt", b"hidden", visible=False)
    put("bad/" + "n" * 300, b"hidden", visible=False)
    put("bad/ok.txt", b"ok\n")
    put("clash", b"hidden file", visible=False)
    put("clash/inner.txt", b"inner\n")

    tenk = [f"f{i:05d}" for i in range(10_000)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: s3.put_object(Bucket=bucket, Key=f"big/10k/{n}",
                                              Body=f"file {n}\n".encode()), tenk))
    for n in tenk:
        files[f"big/10k/{n}"] = f"file {n}\n".encode()

    def sums(paths):
        return "".join(f"{hashlib.sha256(files[p]).hexdigest()}  {p}\n" for p in sorted(paths))

    with open(os.path.join(outdir, "expected.sha256"), "w") as f:
        f.write(sums(files))
    sample = [p for p in files if not p.startswith("big/10k/")] + [
        f"big/10k/{n}" for n in tenk[::250]]
    with open(os.path.join(outdir, "sample.sha256"), "w") as f:
        f.write(sums(sample))
    with open(os.path.join(outdir, "tenk.names"), "w") as f:
        f.write("\n".join(tenk) + "\n")


if __name__ == "__main__":
    main()
