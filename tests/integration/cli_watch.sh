#!/usr/bin/env bash
# `mps3 watch` in one process prints the changes another process makes:
# every one made after it said it is watching, in order, including
# removals; --json and a PREFIX filter.  (The latency is measured, not
# asserted: see scripts/bench-notify.)
. "$(dirname "$0")/lib.sh" "$@"

new_db
POLL_MS=200
m put seed <<<"seed"
m_bg "$T/watch.out" "$T/watch.err" --poll=${POLL_MS}ms watch
wpid=$BG_PID
# Like inotifywait's "Watches established.": changes after this line are reported.
wait_for 30 grep -q "^mps3: watching" "$T/watch.err" || fail "watch says when it is watching: $(cat "$T/watch.err")"

for i in 1 2 3; do
	m put "k$i" <<<"v$i"
	wait_for 60 grep -q "^put	k$i$" "$T/watch.out" || true
	if grep -q "^put	k$i$" "$T/watch.out"; then ok "change $i reported"; else fail "change $i not reported"; fi
done
if grep -q "seed" "$T/watch.out"; then fail "what was there before is not reported"; else
	ok "what was there before is not reported"
fi
is "$(grep -o 'k[0-9]' "$T/watch.out" | tr '\n' ' ')" "k1 k2 k3 " "in the order they were made"

m rm k1
wait_for 60 grep -q "^rm	k1$" "$T/watch.out" || true
if grep -q "^rm	k1$" "$T/watch.out"; then ok "removal reported"; else fail "removal reported"; fi

# JSON lines and a prefix filter.
m_bg "$T/json.out" "$T/json.err" --poll=${POLL_MS}ms watch --json sub/
wait_for 30 grep -q "^mps3: watching" "$T/json.err" || fail "the second watch says when it is watching"
m put other <<<"o"
m put sub/y <<<"y"
wait_for 60 grep -q '"key":"sub/y"' "$T/json.out" || true
if grep -q '"op":"put"' "$T/json.out" && grep -q '"key":"sub/y"' "$T/json.out"; then ok "--json lines"; else fail "--json: $(cat "$T/json.out")"; fi
# "other" was put before sub/y: had the filter let it through, it would be there by now.
if grep -q '"key":"other"' "$T/json.out"; then fail "prefix filter"; else ok "prefix filter leaves out other keys"; fi
kill -INT $wpid
rc=0
wait $wpid || rc=$?
is "$rc" 0 "watch exits 0 on SIGINT"
done_testing
