#!/usr/bin/env bash
# S3 credentials from a web identity (docs/credentials.md), as a Kubernetes service account gives
# them: with nothing but AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN and AWS_ENDPOINT_URL_STS in the
# environment, `bucketfs serve` trades the token for temporary credentials with moto's STS
# (AssumeRoleWithWebIdentity), passes moto's signature and policy checks with them at startup, and
# serves the bucket. A token that STS refuses or cannot be read stops the gateway at startup with
# an error naming the web-identity step.
# Usage: credentials_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1

start_moto
python3 - "$MOTO_URL" <<'PY'
import json, sys, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1")
s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket="wi-bucket")
s3.put_object(Bucket="wi-bucket", Key="hello.txt", Body=b"hello from s3\n")
iam = boto3.client("iam", **kw)
trust = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
    "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.example"}}]})
def role(name, action):
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}))
role("bucketfs-reader", "s3:*")
role("no-s3", "sqs:*")
PY

# moto_auth N — moto serves the next N requests without checking them, then checks signatures
# and IAM policies ("inf": never checks). STS AssumeRoleWithWebIdentity is unsigned, so N=1 lets
# exactly that one through and checks the gateway's HeadBucket at startup.
moto_auth() {
  curl -sf -X POST "$MOTO_URL/moto-api/reset-auth" -H 'Content-Type: text/plain' \
    --data-binary "$1" >/dev/null
}

# Only web-identity settings: no keys, no shared files, no instance metadata.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
export HOME=$BFS_TMP/home AWS_EC2_METADATA_DISABLED=true
mkdir -p "$HOME"
export AWS_WEB_IDENTITY_TOKEN_FILE=$BFS_TMP/token
printf 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpiZnMifQ.sig' \
  >"$AWS_WEB_IDENTITY_TOKEN_FILE"
export AWS_ROLE_ARN=arn:aws:iam::123456789012:role/bucketfs-reader
export AWS_ROLE_SESSION_NAME=bucketfs-integration
export AWS_ENDPOINT_URL_STS=$MOTO_URL

# expect_startup_error NAME PATTERN [ENV_CHANGE...] — `bucketfs serve` of the bucket, with the
# environment changed as `env` would (VAR=VALUE, -u VAR), must fail at startup with output matching
# the extended regular expression PATTERN.
expect_startup_error() {
  local name=$1 pattern=$2 out rc=0
  shift 2
  out=$(env "$@" timeout 60 "$BUCKETFS" serve --bucket wi-bucket --endpoint "$MOTO_URL" \
    --region us-east-1 --listen "127.0.0.1:$(free_port)" --state-dir "$BFS_TMP/state-once" \
    2>&1 >/dev/null) || rc=$?
  echo "     $name: exit $rc: $(tail -n 1 <<<"$out")"
  check "$name" bash -c '[[ $0 -ne 0 && $0 -ne 124 ]] && grep -qE -- "$1" <<<"$2"' \
    "$rc" "$pattern" "$out"
}

moto_auth 1
start_bucketfs --bucket wi-bucket --endpoint "$MOTO_URL" --region us-east-1
check "the gateway says where its credentials come from" \
  grep -q "I S3 credentials from web identity$" "$BFS_TMP/bucketfs.log"
# moto fails the signature of ListObjectsV2 with delimiter=/ from any client (boto3 too), so the
# reads below run with its checks off again; the startup HeadBucket above was checked.
moto_auth inf
check "a file read over NFS with web-identity credentials" \
  test "$(nfs-cat "nfs://127.0.0.1/wi-bucket/hello.txt?version=4&nfsport=$NFS_PORT")" = \
  "hello from s3"

# The same checks refuse a role without S3 permissions: the credentials used are the role's. (The
# gateway above is stopped first: a request of its own would use up moto's one unchecked request.)
kill "$BFS_PID"
wait "$BFS_PID" 2>/dev/null || true
moto_auth 1
expect_startup_error "a role without S3 permissions is refused at startup" \
  "credentials rejected|AccessDenied" AWS_ROLE_ARN=arn:aws:iam::123456789012:role/no-s3
moto_auth inf

# An STS that refuses the token (moto accepts any): a stand-in answering like AWS does.
STS_PORT=$(free_port)
python3 - "$STS_PORT" <<'PY' >"$BFS_TMP/sts.log" 2>&1 &
import http.server, sys
class Refuse(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                b'<Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Incorrect token '
                b'audience</Message></Error><RequestId>1</RequestId></ErrorResponse>')
        self.send_response(400)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Refuse).serve_forever()
PY
BFS_PIDS+=($!)
wait_port "$STS_PORT" 30
expect_startup_error "a refused token stops startup, naming the web-identity step and STS's reason" \
  "S3 credentials from web identity: STS AssumeRoleWithWebIdentity at http://127.0.0.1:$STS_PORT \
for role arn:aws:iam::123456789012:role/bucketfs-reader \\(token file $AWS_WEB_IDENTITY_TOKEN_FILE\\) \
was refused: InvalidIdentityToken: Incorrect token audience" \
  AWS_ENDPOINT_URL_STS="http://127.0.0.1:$STS_PORT"
expect_startup_error "an unreadable token file stops startup, naming the web-identity step" \
  "S3 credentials from web identity: cannot read $BFS_TMP/no-such-token: No such file or directory" \
  AWS_WEB_IDENTITY_TOKEN_FILE="$BFS_TMP/no-such-token"
expect_startup_error "without any credentials the error lists every step tried" \
  "no S3 credentials found \\(tried environment: .*; web identity: .*; shared files \\(profile \
default\\): .*; container endpoint: .*; instance metadata: AWS_EC2_METADATA_DISABLED is true\\)" \
  -u AWS_WEB_IDENTITY_TOKEN_FILE

echo "$CHECKS_FAILED checks failed"
exit $((CHECKS_FAILED > 0))
