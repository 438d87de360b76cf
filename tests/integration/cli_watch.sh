#!/usr/bin/env bash
# `mps3 watch` in one process prints changes made by another process within
# two poll intervals.
. "$(dirname "$0")/lib.sh" "$@"

new_db
POLL_MS=1000
m put seed <<<"seed"
m_bg "$T/watch.out" "$T/watch.err" --poll=${POLL_MS}ms watch
wpid=$BG_PID
# watch has resolved once it idles; a first change may still race its open,
# so wait until it reports one of ours.
m put ready <<<"x"
wait_for 30 grep -q "^put	ready$" "$T/watch.out" || { fail "watch reported nothing (stderr: $(cat "$T/watch.err"))"; done_testing; exit 1; }

worst=0
for i in 1 2 3; do
	m put "k$i" <<<"v$i"
	t0=$(now_ms)
	wait_for 20 grep -q "^put	k$i$" "$T/watch.out" || true
	dt=$(($(now_ms) - t0))
	((dt > worst)) && worst=$dt
	if grep -q "^put	k$i$" "$T/watch.out"; then ok "change $i reported (${dt} ms)"; else fail "change $i not reported"; fi
done
diag "worst latency ${worst} ms at a ${POLL_MS} ms poll interval"
if ((worst <= 2 * POLL_MS)); then ok "every change arrived within two poll intervals"; else fail "slowest change took ${worst} ms"; fi

m rm k1
m put sub/x <<<"x"
wait_for 20 grep -q "^put	sub/x$" "$T/watch.out" || true
if grep -q "^rm	k1$" "$T/watch.out"; then ok "removal reported"; else fail "removal reported"; fi

# JSON lines and a prefix filter.
m_bg "$T/json.out" /dev/null --poll=200ms watch --json sub/
sleep 1
m put other <<<"o"
m put sub/y <<<"y"
wait_for 20 grep -q '"key":"sub/y"' "$T/json.out" || true
if grep -q '"op":"put"' "$T/json.out" && grep -q '"key":"sub/y"' "$T/json.out"; then ok "--json lines"; else fail "--json: $(cat "$T/json.out")"; fi
if grep -q '"key":"other"' "$T/json.out"; then fail "prefix filter"; else ok "prefix filter leaves out other keys"; fi
kill -INT $wpid
rc=0
wait $wpid || rc=$?
is "$rc" 0 "watch exits 0 on SIGINT"
done_testing
