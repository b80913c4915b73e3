# Shared helpers for the integration test scripts (sourced, not run). Every server a test starts is
# bound to 127.0.0.1 on a free port, remembered by PID, and stopped by PID on exit.
set -euo pipefail

unset AWS_CA_BUNDLE || true   # moto is plain http; a CA bundle confuses some tools
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1

BFS_PIDS=()
BFS_TMP=$(mktemp -d)
# A gateway started without --state-dir keeps its state here, never in the user's home.
export BUCKETFS_STATE_DIR=$BFS_TMP/default-state
bfs_cleanup() {
  local pid
  # BFS_STACKS=1: the gateway's thread stacks go to $BFS_TMP/stacks.txt before it is stopped (for
  # a test that hung; with BFS_KEEP_TMP=1).
  if [[ -n ${BFS_STACKS:-} && -n ${BFS_PID:-} ]] && kill -0 "$BFS_PID" 2>/dev/null; then
    timeout 120 gdb -batch -p "$BFS_PID" -ex "thread apply all bt" >"$BFS_TMP/stacks.txt" 2>&1 || true
  fi
  for pid in "${BFS_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${BFS_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # BFS_KEEP_TMP=1 keeps the logs and state of a run for a post-mortem.
  if [[ -n ${BFS_KEEP_TMP:-} ]]; then echo "kept $BFS_TMP" >&2; else rm -rf "$BFS_TMP"; fi
}
trap bfs_cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT SECONDS — until something accepts on 127.0.0.1:PORT.
wait_port() {
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "nothing listens on 127.0.0.1:$1 after $2 s" >&2; return 1; }
    sleep 0.2
  done
}

# start_moto: sets MOTO_PORT and MOTO_URL.
start_moto() {
  command -v moto_server >/dev/null || { echo "moto_server not on PATH" >&2; exit 1; }
  MOTO_PORT=$(free_port)
  moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$BFS_TMP/moto.log" 2>&1 &
  BFS_PIDS+=($!)
  wait_port "$MOTO_PORT" 30
  MOTO_URL=http://127.0.0.1:$MOTO_PORT
}

# start_bucketfs ARGS...: runs `bucketfs serve ARGS --listen 127.0.0.1:PORT --state-dir DIR`, sets
# NFS_PORT and BFS_PID. DIR is $BFS_STATE_DIR (default $BFS_TMP/state): a restarted gateway that
# keeps it keeps its clients' file handles. NFS_PORT is reused when already set (a restart).
start_bucketfs() {
  NFS_PORT=${NFS_PORT:-$(free_port)}
  # BFS_SERVE_EXTRA: more `serve` flags, split on spaces (for running a test with a feature on).
  # shellcheck disable=SC2086
  "$BUCKETFS" serve "$@" --listen "127.0.0.1:$NFS_PORT" \
    --state-dir "${BFS_STATE_DIR:-$BFS_TMP/state}" ${BFS_SERVE_EXTRA:-} >>"$BFS_TMP/bucketfs.log" 2>&1 &
  BFS_PID=$!
  BFS_PIDS+=("$BFS_PID")
  if ! wait_port "$NFS_PORT" 30; then cat "$BFS_TMP/bucketfs.log" >&2; exit 1; fi
}

# metric NAME: the sum of the samples of metric NAME from the gateway's /metrics endpoint on
# 127.0.0.1:$METRICS_PORT (start the gateway with --metrics-listen 127.0.0.1:$METRICS_PORT).
metric() {
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
    awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {print s + 0}'
}

# guest_tool NAME [LIBS...]: builds tests/integration/guest_tools/NAME.c into a static binary
# $BFS_TMP/NAME (for KCLIENT_FILES: the guest has no libc of its own to link against).
guest_tool() {
  local name=$1
  shift
  gcc -static -O2 -o "$BFS_TMP/$name" "$(dirname "${BASH_SOURCE[0]}")/guest_tools/$name.c" "$@" \
    2>"$BFS_TMP/$name.cc.log" || { cat "$BFS_TMP/$name.cc.log" >&2; exit 1; }
}

CHECKS_FAILED=0
check() {  # check NAME COMMAND... — runs COMMAND, prints ok/FAIL, counts failures
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; CHECKS_FAILED=$((CHECKS_FAILED + 1)); fi
}
