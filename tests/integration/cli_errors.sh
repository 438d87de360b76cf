#!/usr/bin/env bash
# Failures against a real S3 server: a wrong secret, and the server stopped
# in the middle of a run (retries, a clear error, nothing committed lost).
. "$(dirname "$0")/lib.sh" "$@"

# This test stops its server, so it always runs a private one.
OWN_S3=$T/s3
"$SRCDIR/scripts/s3-server" --port auto start "$OWN_S3" >"$T/s3.log" 2>&1 || { cat "$T/s3.log"; exit 1; }
# shellcheck disable=SC1091
. "$OWN_S3/env"
new_db

m put first <<<"one"
set +e
AWS_SECRET_ACCESS_KEY=wrong m get first >/dev/null 2>"$T/err"
rc=$?
set -e
is "$rc" 1 "wrong secret exits 1"
if grep -q "SignatureDoesNotMatch" "$T/err"; then ok "and names SignatureDoesNotMatch"; else fail "message: $(cat "$T/err")"; fi
if grep -q "testing" "$T/err"; then fail "the secret leaks into the message"; else ok "the message does not contain the secret"; fi

# A stream of writes while the server goes away.
writer() {
	local i
	for ((i = 0; i < 150; i++)); do
		if printf 'v%d' "$i" | m --retries=3 put "w/$i" - 2>>"$T/writer.err"; then
			echo "$i" >>"$T/acked"
		fi
	done
}
: >"$T/acked"
writer &
wpid=$!
wait_for 60 test -s "$T/acked"
sleep 1
"$SRCDIR/scripts/s3-server" stop "$OWN_S3" >/dev/null
diag "server stopped after $(wc -l <"$T/acked") acknowledged writes"
sleep 2
set +e
m --retries=3 get first >/dev/null 2>"$T/down.err"
rc=$?
set -e
is "$rc" 1 "with the server down a command exits 1"
if grep -q "gave up after 3 attempts" "$T/down.err" && grep -qi "refused\|reset\|timed out" "$T/down.err"; then
	ok "after retries, with a clear reason"
else
	fail "message: $(cat "$T/down.err")"
fi
diag "$(head -n1 "$T/down.err")"
"$SRCDIR/scripts/s3-server" --port "${MPS3_TEST_S3_ENDPOINT##*:}" start "$OWN_S3" >"$T/s3b.log" 2>&1 || { cat "$T/s3b.log"; exit 1; }
wait $wpid || true
n=$(wc -l <"$T/acked")
lost=0
while read -r i; do
	if [[ "$(m get "w/$i" 2>"$T/get.err")" != "v$i" ]]; then
		lost=$((lost + 1))
		diag "lost w/$i: $(cat "$T/get.err")"
	fi
done <"$T/acked"
is "$lost" 0 "all $n acknowledged writes survive the outage"
is "$(m get first)" "one" "data committed before the outage is intact"
if [[ $lost -gt 0 ]]; then
	diag "writer errors:"
	while read -r line; do diag "$line"; done <"$T/writer.err"
	m log --entries | head -n 20 | while read -r line; do diag "$line"; done
fi
done_testing
