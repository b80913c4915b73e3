#!/bin/sh
# Runs in two kernel-client guests at once (KCLIENT_ROLE=a and b), in the mount of one export
# (tests/integration/lock_test.sh): concurrent SQLite writers, then fcntl/flock conflicts across
# the two clients, a lock held across a gateway restart (reclaimed in the grace period), then guest
# b holds a lock and is killed while guest a waits for the lease to release it. The guests meet through marker files in the export.
# Needs locktool and sqlite_writer (tests/integration/guest_tools) in /bin.
fail=0
ck() {
  name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}
waitfor() {  # waitfor FILE SECONDS
  n=0
  while [ ! -e "$1" ]; do
    n=$((n + 1))
    [ $n -gt $(($2 * 2)) ] && { echo "FAIL waited $2 s for $1"; return 1; }
    sleep 0.5
    ls >/dev/null
  done
}
me=$KCLIENT_ROLE
other=b
[ "$me" = b ] && other=a
touch "ready.$me"
waitfor "ready.$other" 300 || exit 1

# 1. SQLite on the mount: both clients write at once; SQLite's locks are fcntl locks.
out=$(sqlite_writer insert db.sqlite "$me" 100)
echo "$out"
ck "sqlite: 100 transactions from client $me" test -n "$(echo "$out" | grep '^INSERTED')"
touch "sqlite-done.$me"
if [ "$me" = a ]; then
  waitfor sqlite-done.b 900 || exit 1
  out=$(sqlite_writer check db.sqlite 200)
  echo "$out"
  ck "sqlite: database intact with every row of both clients" test -n "$(echo "$out" | grep '^CHECK integrity=ok rows=200 counter=200')"
fi

# 2. Client a holds a write lock on the whole file for 20 s; client b tests it.
if [ "$me" = a ]; then
  out=$(locktool holdmark lk 20 a-holds)
  ck "fcntl write lock granted and released ($out)" test "$(echo $out)" = "GRANTED RELEASED"
else
  waitfor a-holds 300 || exit 1
  ck "fcntl write lock held by the other client: DENIED" test "$(locktool try lk w 0 0)" = DENIED
  ck "read lock on a range inside it: DENIED" test "$(locktool try lk r 100 10)" = DENIED
  out=$(locktool getlk lk r 4096 1)
  ck "F_GETLK names the other client's write lock ($out)" test "${out%% *}" = LOCKED
  ck "flock conflicts with it too: DENIED" test "$(locktool flock lk)" = DENIED
  out=$(locktool wait lk w 0 0 0)
  echo "$out"
  ck "blocking lock granted once the other client unlocks" test "${out%% *}" = GRANTED
fi

# 3. Client a holds a lock across a gateway restart (the host kills -9 and restarts it, then puts
# control/restarted): a reclaims it in the grace period, so b's attempt after the restart waits out
# the grace period and is DENIED, while a lock nobody held is granted.
if [ "$me" = a ]; then
  locktool holdmark lk2 600 a-holds2 >holder.out.$$ 2>&1 &
  holder=$!
  waitfor a-holds2 300 || exit 1
  echo "SYNC a-holds-for-restart"
  waitfor b-checked-restart 600 || exit 1
  kill $holder 2>/dev/null
  wait $holder 2>/dev/null
  rm -f holder.out.$$
  ck "lock reclaimed after the restart is released by its holder" test "$(locktool try lk2 w 0 0)" = GRANTED
else
  waitfor a-holds2 300 || exit 1
  waitfor control/restarted 600 || exit 1
  ck "after a gateway restart the other client's reclaimed lock: DENIED" test "$(locktool try lk2 w 0 0)" = DENIED
  ck "after a gateway restart a free lock: GRANTED" test "$(locktool try lk3 w 0 0)" = GRANTED
  touch b-checked-restart
fi

# 4. Client b holds a lock and dies (the host kills its VM); a gets the lock after b's lease.
if [ "$me" = b ]; then
  echo "SYNC b-will-hold"
  locktool holdmark lk 600 b-holds
else
  waitfor b-holds 300 || exit 1
  echo "SYNC saw-b-holds"
  locktool poll lk w 240 a-got >poll.out.$$ 2>&1 &
  poller=$!
  waitfor a-got 300
  cat poll.out.$$
  ck "lock of a killed client released after its lease" grep -q '^GRANTED after [1-9]' poll.out.$$
  kill $poller 2>/dev/null
  rm -f poll.out.$$
fi
echo "SYNC done-$me"
exit $fail
