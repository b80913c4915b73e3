#!/usr/bin/env bash
# `bucketfs serve --config FILE` (docs/configuration.md) end to end, on the embedded local store
# (no S3): a typo in the file stops the gateway naming file, line and key; flags override the
# file; SIGHUP applies the log level, the metadata TTL and added/removed exports at once (an export
# with writes not yet uploaded stays, and the log says why), warns once per key that needs a
# restart, and a broken file leaves the gateway running as it was. libnfs only, no kernel client.
# Usage: config_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1

gcc -O2 -o "$BFS_TMP/nfs_put" "$here/host_tools/nfs_put.c" -lnfs \
  2>"$BFS_TMP/nfs_put.cc.log" || { cat "$BFS_TMP/nfs_put.cc.log" >&2; exit 1; }
mkdir -p "$BFS_TMP/local/alpha" "$BFS_TMP/local/beta"
echo alpha >"$BFS_TMP/local/alpha/a.txt"
echo beta >"$BFS_TMP/local/beta/b.txt"
cfg=$BFS_TMP/bucketfs.toml
METRICS_PORT=$(free_port)

# write_config EXPORTS [EXTRA_LINES]: the config file with [[export]] tables for EXPORTS.
write_config() {
  {
    echo "listen = \"127.0.0.1:1\"   # overridden by --listen"
    echo "local_dir = \"$BFS_TMP/local\""
    echo "metrics_listen = \"127.0.0.1:$METRICS_PORT\""
    echo "upload_delay = 600000"
    echo "lease = 5"
    echo "${2:-}"
    for e in $1; do printf '[[export]]\nbucket = "%s"\n' "$e"; done
  } >"$cfg"
}

# A typo is an error naming the file, the line and the key, and nothing starts.
write_config alpha 'cache_memroy = "1G"'
out=$("$BUCKETFS" serve --config "$cfg" --state-dir "$BFS_TMP/state" 2>&1 >/dev/null) && rc=0 || rc=$?
echo "     typo: exit $rc: $out"
check "an unknown key stops serve with file, line and key" bash -c \
  "[[ $rc -ne 0 && \$(wc -l <<<\"\$1\") -eq 1 ]] && grep -qF \"$cfg:6: unknown key 'cache_memroy' (did you mean cache_memory?)\" <<<\"\$1\"" \
  _ "$out"

write_config alpha 'metadata_ttl = 5'
start_bucketfs --config "$cfg"
wait_port "$METRICS_PORT" 30
url() { echo "nfs://127.0.0.1/$1?version=4&nfsport=$NFS_PORT"; }
check "the file's export is served (and --listen overrode the file's listen)" \
  bash -c "nfs-cat '$(url alpha/a.txt)' | grep -qx alpha"
check "healthz is ok" bash -c "[[ \$(curl -s http://127.0.0.1:$METRICS_PORT/healthz) == ok ]]"
head -c 100000 /dev/urandom >"$BFS_TMP/pending.bin"
check "a write to /alpha stays staged (upload_delay 600 s)" bash -c \
  "'$BFS_TMP/nfs_put' '$BFS_TMP/pending.bin' '$(url alpha/pending.bin)' >/dev/null"

# Reload: /beta added, /alpha removed (but it has a pending upload), log level and TTL changed
# live, the cache size needs a restart.
since=0
log_since() { tail -n +"$((since + 1))" "$BFS_TMP/bucketfs.log"; }
logged() { log_since | grep -q -- "$1"; }
# reload PATTERN: SIGHUP, then wait until the log says PATTERN.
reload() {
  since=$(wc -l <"$BFS_TMP/bucketfs.log")
  kill -HUP "$BFS_PID"
  local deadline=$((SECONDS + 30))
  until logged "$1"; do
    ((SECONDS < deadline)) || return 0
    sleep 0.2
  done
}
serves() { nfs-cat "$(url "$1")" | grep -qx "$2"; }
write_config beta $'log_level = "debug"\nmetadata_ttl = 60\ncache_memory = "512M"'
reload "exporting $BFS_TMP/local/beta/ as /beta"
check "SIGHUP: the added export is served" serves beta/b.txt beta
check "SIGHUP: the removed export with a pending upload stays" serves alpha/a.txt alpha
check "SIGHUP: ... and the log says why" \
  logged "export /alpha is no longer in the config file but stays until its uploads are done"
check "SIGHUP: the log level changes live" logged 'log_level is now "debug" (was "info")'
check "SIGHUP: the metadata TTL changes live" logged "metadata_ttl is now 60 (was 5)"
check "SIGHUP: a warning for the key that needs a restart" \
  logged ' W config reload: cache_memory changed from "1G" to "512M"; that needs a restart'
check "SIGHUP: and only for that key" test "$(log_since | grep -c 'needs a restart')" -eq 1

# A broken file: an error, and the gateway goes on as it was.
echo 'this is not toml' >>"$cfg"
reload "config reload failed"
check "SIGHUP with a broken file logs an error naming the file" \
  logged " E config reload failed, the running configuration stays: $cfg:"
check "and the gateway still runs and serves /beta" serves beta/b.txt beta
check "and /alpha" serves alpha/a.txt alpha

kill -TERM "$BFS_PID"
rc=0
wait "$BFS_PID" || rc=$?
check "SIGTERM: exit 0" test "$rc" -eq 0

if ((CHECKS_FAILED > 0)); then
  echo "$CHECKS_FAILED check(s) failed; gateway log:" >&2
  tail -40 "$BFS_TMP/bucketfs.log" >&2
  exit 1
fi
echo "all config checks passed"
