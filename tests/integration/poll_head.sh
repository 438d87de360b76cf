#!/usr/bin/env bash
# Polling by head (PROTOCOL.md P3), counted request by request through the
# fault proxy's log: an idle poll is one GET of head; a change that head
# names reaches a watcher with GETs and no LIST; an old writer's head, and
# heads that are garbage, huge, name entries that do not exist, are stale
# or forged, or hide an entry, make it LIST and never make it miss, repeat
# or accept an entry a LIST would not; two writers racing still converge.
. "$(dirname "$0")/lib.sh" "$@"

new_db
m put seed <<<"seed"
start_proxy
proxy "faults log=1"
REQS=$T/proxy.ctl.headers
BUCKET=${URL#s3://}
BUCKET=${BUCKET%%/*}

mark() { wc -l <"$REQS" 2>/dev/null || echo 0; }
since() { tail -n "+$(($1 + 1))" "$REQS" 2>/dev/null | cut -d' ' -f1,2; }
is_list() { grep -q 'list-type=2'; }
# Requests after MARK up to the first GET of a log entry (none: all of them).
before_entry() { since "$1" | awk '/\/db\/log\// {exit} {print}'; }
listed_since() { since "$1" | is_list; }
# listed_after MARK NEEDLE: a LIST after the first request (since MARK) containing NEEDLE.
listed_after() { since "$1" | awk -v g="$2" 'f {print} index($0, g) {f=1}' | is_list; }
asked_since() { since "$1" | grep -F -- "$2" >/dev/null; }
head_gets() { since "$1" | grep -c "^GET /$BUCKET/db/head" || true; }
raw_get() {
	curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
		"http://test%3Atester:testing@${MPS3_TEST_S3_ENDPOINT#http://}/${URL#s3://}/$1"
}
# The digest a reader keeps of the head it caught up with (mps3/head.h).
head_digest() { { raw_get head || true; } | sha256sum | cut -c1-16; }
# watcher NAME [OPTIONS]: mps3 watch through the proxy, once it is watching.
watcher() {
	local name=$1
	shift
	"$MPS3" --endpoint "$PROXY_EP" --poll=200ms "$@" "$URL" watch >"$T/$name.out" 2>"$T/$name.err" &
	eval "${name}_PID=$!"
	at_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
	wait_for 60 grep -q "^mps3: watching" "$T/$name.err" || fail "$name watches: $(cat "$T/$name.err")"
}
got() { wait_for 90 grep -q "^put	$2$" "$T/$1.out" || true; }
times_seen() { grep -c "^put	$2$" "$T/$1.out" || true; }
# entry_name T_MS SEQ: the name of a planted entry (lib.sh's session).
entry_name() { printf '%016d_%s_%d' $((9999999999999999 - $1)) "$PLANT_SESSION" "$2"; }
# plant_entry T_MS SEQ FILES_JSON [SESSION_IN_BODY]: a log entry and nothing else (head untouched).
plant_entry() {
	printf '{"v":1,"t":%d,"session":"%s","seq":%d,"files":%s}' "$1" "${4:-$PLANT_SESSION}" "$2" "$3" \
		>"$T/entry.json"
	raw_put "log/$(entry_name "$1" "$2")" "$T/entry.json"
}
plant_head() { printf '%b' "$1" >"$T/head.body" && raw_put head "$T/head.body"; }
echo x >"$T/x"
BLOB=$(plant_blob "$T/x")
VAL=$(file_entry "$BLOB" 2)

# ---- idle, and a change that head names --------------------------------------
watcher w1 --lag=60s
m0=$(mark)
polled() { test "$(head_gets "$m0")" -ge 4; }
wait_for 60 polled || true
other=$(since "$m0" | grep -vc "^GET /$BUCKET/db/head" || true)
is "$other" 0 "idle: nothing but GETs of head ($(head_gets "$m0") of them)"

m0=$(mark)
m put k1 <<<"v1"
got w1 k1
is "$(times_seen w1 k1)" 1 "a change reaches the watcher, once"
check "it GETs the new entry" grep -q "/db/log/" <(since "$m0")
if before_entry "$m0" | is_list; then fail "no LIST before the entry's GET"; else ok "no LIST before the entry's GET"; fi

# ---- an old writer's head (one name) ---------------------------------------------
m0=$(mark)
plant "{\"k2\":$VAL}"
got w1 k2
is "$(times_seen w1 k2)" 1 "an entry under an old writer's head is found"
check "by a LIST" is_list < <(since "$m0")
m0=$(mark)
m put k3 <<<"v3"
got w1 k3
is "$(times_seen w1 k3)" 1 "a new writer's head over an old one: delivered"
if before_entry "$m0" | is_list; then fail "chained from the old head, no LIST"; else ok "chained from the old head, no LIST"; fi

# ---- hostile heads ---------------------------------------------------------------------
m0=$(mark)
plant_head 'mps3-head 2\ngarbage\n'
wait_for 60 listed_since "$m0" || true
check "garbage head: the watcher LISTs" is_list < <(since "$m0")
m put k4 <<<"v4"
got w1 k4
is "$(times_seen w1 k4)" 1 "garbage head: the next change is delivered"

m0=$(mark)
head -c 1048576 /dev/zero | tr '\0' 'x' >"$T/huge"
raw_put head "$T/huge"
wait_for 60 listed_since "$m0" || true
check "huge head: the watcher LISTs" is_list < <(since "$m0")
m put k5 <<<"v5"
got w1 k5
is "$(times_seen w1 k5)" 1 "huge head: the next change is delivered"

# A fresh watcher has caught up with head as it is now: its digest is known.
watcher w2 --lag=60s
d=$(head_digest)
now=$(now_ms)
ghost=$(entry_name "$now" 900)
m0=$(mark)
plant_head "mps3-head 2\n$ghost $d\n"
wait_for 60 listed_after "$m0" "/db/log/$ghost" || true
check "a head naming a missing entry: GET, then LIST" listed_after "$m0" "/db/log/$ghost"
m put k6 <<<"v6"
got w2 k6
is "$(times_seen w2 k6)" 1 "and the next change is delivered"

# Forged: dated 20 s before it is stored (stale by R2); naming another session than its body.
watcher w3 --lag=60s
d=$(head_digest)
now=$(now_ms)
plant_entry $((now - 20000)) 901 "{\"stale\":$VAL}"
plant_entry "$now" 902 "{\"forged\":$VAL}" 0123012301230123
plant_head "mps3-head 2\n$(entry_name "$now" 902) $d\n$(entry_name $((now - 20000)) 901) $d\n"
m put k7 <<<"v7"
got w3 k7
got w2 k7
is "$(times_seen w3 k7)" 1 "forged entries named by head: the next change is delivered"
is "$(times_seen w3 stale)$(times_seen w3 forged)$(times_seen w2 stale)$(times_seen w2 forged)" 0000 \
	"neither forged entry is accepted"
reported_once "$(entry_name $((now - 20000)) 901)" "$T/w3.err" "the stale one"
reported_once "$(entry_name "$now" 902)" "$T/w3.err" "the one of another session"

# A head that hides an entry: it names the newer of two; the older comes by the LIST owed after it.
watcher w4
d=$(head_digest)
now=$(now_ms)
plant_entry "$now" 910 "{\"hidden\":$VAL}"
plant_entry $((now + 1)) 911 "{\"named\":$VAL}"
plant_head "mps3-head 2\n$(entry_name $((now + 1)) 911) $d\n"
got w4 named
got w4 hidden
is "$(times_seen w4 named) $(times_seen w4 hidden)" "1 1" "an entry head hides is still delivered, each once"

# ---- two writers racing -----------------------------------------------------------------------
watcher w5
for wr in a b; do
	(for i in 1 2 3 4 5 6 7 8; do m put "r$wr$i" <<<"$i" >/dev/null; done) &
	eval "RACE_$wr=$!"
done
wait "$RACE_a"
wait "$RACE_b"
for wr in a b; do for i in 1 2 3 4 5 6 7 8; do got w5 "r$wr$i"; done; done
n=$(grep -c "^put	r[ab][0-9]$" "$T/w5.out" || true)
u=$(grep "^put	r[ab][0-9]$" "$T/w5.out" | sort -u | wc -l)
is "$n $u" "16 16" "two writers racing: all 16 changes delivered, each once"
is "$(m ls | grep -c '^r[ab]')" 16 "and the database holds them"
done_testing
