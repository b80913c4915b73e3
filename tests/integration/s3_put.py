#!/usr/bin/env python3
"""Small S3 edits for integration tests, made directly against the endpoint (behind the gateway).

Usage: s3_put.py ENDPOINT BUCKET CMD ARGS...
  mkbucket                      create the bucket
  put KEY TEXT                  put an object with TEXT as its body
  putrand KEY MIB SEED OUTSUM   put MIB MiB of seeded random bytes; write their sha256 to OUTSUM
  delete KEY                    delete an object
"""
import hashlib
import random
import sys

import boto3


def main():
    endpoint, bucket, cmd, *args = sys.argv[1:]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    if cmd == "mkbucket":
        s3.create_bucket(Bucket=bucket)
    elif cmd == "put":
        s3.put_object(Bucket=bucket, Key=args[0], Body=args[1].encode())
    elif cmd == "putrand":
        key, mib, seed, outsum = args[0], int(args[1]), int(args[2]), args[3]
        data = random.Random(seed).randbytes(mib << 20)
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        with open(outsum, "w") as f:
            f.write(f"{hashlib.sha256(data).hexdigest()}  {key}\n")
    elif cmd == "delete":
        s3.delete_object(Bucket=bucket, Key=args[0])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
