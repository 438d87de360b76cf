#!/usr/bin/env bash
# The store goes away for 30 s while a mount is writing: every write still
# succeeds and reads back at once, status says offline, and when the store
# returns everything lands, in order.  A mount also starts while the store
# is unreachable, from its saved state.  Faults (503s, resets, cut bodies,
# delays) on top cost nothing but time.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
OFFLINE=${MPS3_TEST_OFFLINE_S:-30}
new_db
start_proxy
mount_fs a
A=$MNT
echo before >"$A/before"
"$MPS3" sync "$A"

proxy offline
end=$((SECONDS + OFFLINE))
n=0 bad=0
while ((SECONDS < end)); do
	n=$((n + 1))
	if ! echo "version $n" >"$A/seq" || ! echo "new $n" >"$A/new-$n"; then bad=$((bad + 1)); fi
	[[ "$(cat "$A/seq")" == "version $n" ]] || bad=$((bad + 1))
	sleep 0.25
done
is "$bad" 0 "$n rounds of writes during ${OFFLINE} s offline all succeed and read back at once"
if "$MPS3" status "$A" | grep "^state: offline" >/dev/null; then ok "status says offline"; else fail "status: $("$MPS3" status "$A" | head -3 | tr '\n' ' ')"; fi
pending=$("$MPS3" status "$A" | sed -n 's/^pending paths: //p')
if [[ $pending -ge 2 ]]; then ok "status counts pending changes ($pending)"; else fail "pending paths: $pending"; fi
check "nothing of it reached the bucket yet" test -z "$(m ls new- 2>/dev/null)"

proxy online
check "mps3 sync MOUNTPOINT returns once everything landed" timeout 120 "$MPS3" sync "$A"
is "$(m get seq)" "version $n" "the last version is in the bucket"
is "$(m ls new- | wc -l)" "$n" "every file written offline is in the bucket"
# In order: the log holds seq's versions with ascending numbers, newest last.
order=$(m log --entries --json | /usr/bin/python3 -c '
import json, sys
for line in reversed(sys.stdin.read().splitlines()):
    e = json.loads(line)
    if e["status"] == "ok" and "seq" in (e.get("files") or {}):
        print(e["t"])' | awk 'NR > 1 && $1 < prev {bad=1} {prev=$1} END {print bad ? "out of order" : "in order"}')
is "$order" "in order" "the log has the offline changes in order"
# The poller finds the store again at its next attempt (it backs off while offline).
if wait_for 60 bash -c '"$0" status "$1" | grep -q "^state: online"' "$MPS3" "$A"; then ok "status says online again"; else
	fail "status says online again"
	"$MPS3" status "$A" | sed 's/^/# /'
fi

# Faults on every connection for a while: slower, nothing lost.
proxy faults error=0.2 reset=0.1 cut=0.1 drop=0.05 delay=20
for i in $(seq 1 20); do echo "flaky $i" >"$A/flaky-$i"; done
proxy online
check "sync after a burst of faults" timeout 120 "$MPS3" sync "$A"
missing=0
for i in $(seq 1 20); do [[ "$(m get "flaky-$i")" == "flaky $i" ]] || missing=$((missing + 1)); done
is "$missing" 0 "all 20 files written through 503s, resets and cut bodies are in the bucket"

# Replies lost: every request is done but its reply never arrives, so each
# commit fails though its entry landed.  A directory made and then removed,
# a symlink made and then renamed, must not come back from those entries
# when the store answers again: the later changes are written against what
# may have landed, not only against what is known to have.  (An entry
# whose reply was lost is never PUT again: it is committed again under a
# new name, and those replies are lost too.)
mount_fs l
L=$MNT
mk=$(proxy_mark)
proxy faults lose=1
mkdir "$L/doubt-d"
ln -s target "$L/doubt-l"
# Offline alone may come from a lost poll, before the uploader tried: the
# removal below would then fold into the same commit.  Wait for an entry
# the store took (under load Swift may refuse one, 503, and then nothing
# landed), so that it is in the bucket though its writer cannot know it.
if wait_for 60 proxy_hit "$mk" "^lose PUT /${URL#s3://}/log/[^ ]+ 2[0-9][0-9]$" &&
	wait_for 60 bash -c '"$0" status "$1" | grep -q "^state: offline"' "$MPS3" "$L"; then
	ok "with every reply lost, the commit fails"
else fail "with every reply lost, the commit fails"; fi
rmdir "$L/doubt-d"
mv "$L/doubt-l" "$L/doubt-m"
sleep 2 # the uploader's next attempts, their replies lost too
proxy online
check "sync after the lost replies" timeout 120 "$MPS3" sync "$L"
m log --entries --json >"$T/lost.log"
if grep '"status": *"ok"' "$T/lost.log" | grep '"doubt-d": *{[^}]*"type": *"d"' >/dev/null; then
	ok "the log holds the entry whose reply was lost"
else
	fail "the log holds the entry whose reply was lost"
	sed 's/^/# /' "$T/lost.log"
	sed -n "$((mk + 1)),\$p" "$T/proxy.ctl.requests" | sed 's/^/# proxy: /'
fi
sleep 3 # polls that find those entries
check "the removed directory stays removed on the mount" test ! -e "$L/doubt-d"
check "the renamed symlink stays renamed on the mount" test ! -L "$L/doubt-l"
is "$(readlink "$L/doubt-m")" "target" "under its new name"
check "the bucket agrees: no doubt-d" test -z "$(m ls doubt-d 2>/dev/null)"
check "the bucket agrees: no doubt-l" test -z "$(m ls doubt-l 2>/dev/null)"

# The same across a crash: the entry whose reply was lost never wrote head,
# so the restarted mount must LIST before it judges its journal, or it
# would find the removal "already in the bucket" and drop it.  (Unmounted
# cleanly first: the state saved then names the current head, so the
# restart would not LIST by itself; a poll first, which reads the head our
# last commit wrote.)
sleep 2
umount_quiet l
mount_fs l
L=$MNT
mk=$(proxy_mark)
proxy faults lose=1
mkdir "$L/doubt-c"
if wait_for 60 proxy_hit "$mk" "^lose PUT /${URL#s3://}/log/[^ ]+ 2[0-9][0-9]$" &&
	wait_for 60 bash -c '"$0" status "$1" | grep -q "^state: offline"' "$MPS3" "$L"; then
	ok "a second commit with its reply lost fails"
else fail "a second commit with its reply lost fails"; fi
proxy offline
rmdir "$L/doubt-c"
pid=${FS_PID[l]}
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
fusermount3 -uz "$L" 2>/dev/null || true
unset "FS_PID[l]"
proxy online
mount_fs l2 cache_dir="$T/l.cache"
L=$MNT
check "sync after the crash" timeout 120 "$MPS3" sync "$L"
echo later >"$L/doubt-later" # head moves: every poll LISTs now
check "sync of a later change" timeout 120 "$MPS3" sync "$L"
sleep 3 # polls that find every entry
check "the directory removed before the crash stays removed" test ! -e "$L/doubt-c"
check "the bucket agrees: no doubt-c" test -z "$(m ls doubt-c 2>/dev/null)"
umount_quiet l2

# Start while the store is unreachable: from the saved state.
umount_quiet a
proxy offline
mount_fs a2 cache_dir="$T/a.cache"
A=$MNT
is "$(cat "$A/before")" "before" "a mount started offline shows the last known tree"
echo "written while starting offline" >"$A/offline-start"
is "$(cat "$A/offline-start")" "written while starting offline" "and takes writes"
proxy online
check "which land once the store is back" timeout 120 "$MPS3" sync "$A"
is "$(m get offline-start)" "written while starting offline" "the offline start's write is in the bucket"
umount_quiet a2

# A store that accepts connections and never answers (issue 9, item 6): the
# mount waits at most mount_timeout=, then starts offline from its saved
# state, or fails with a clear message when it has none.
proxy hang
mount_fs a3 cache_dir="$T/a.cache" mount_timeout=3s
A=$MNT
is "$(cat "$A/before")" "before" "against a store that never answers, a mount with saved state starts offline"
if grep -q "starting from the saved state, offline" "$T/a3.err"; then ok "and says so"; else
	fail "and says so"
	sed 's/^/# /' "$T/a3.err"
fi
umount_quiet a3
mkdir -p "$T/h"
set +e
timeout 120 "$MPS3FS" -f -o "cache_dir=$T/h.cache,endpoint=$PROXY_EP,mount_timeout=3s" "${URL%/*}/fresh" "$T/h" \
	2>"$T/h.err"
rc=$?
set -e
if ((rc != 0 && rc != 124)); then ok "a mount with no saved state fails (exit $rc)"; else fail "mount with no state: exit $rc"; fi
if grep -q "did not answer within mount_timeout=3000ms" "$T/h.err"; then ok "saying the store did not answer"; else
	fail "saying the store did not answer"
	sed 's/^/# /' "$T/h.err"
fi
mountpoint -q "$T/h" && fusermount3 -u "$T/h"
proxy online

# Whatever was lost, reset or cut above, no log entry key was written twice:
# a second copy carries a later LastModified, and readers that saw the first
# would judge the entry otherwise than readers that see the second.
if [[ $BACKEND == s3 && -n ${MPS3_TEST_S3_PROXY_LOG:-} ]]; then
	bp=${URL#s3://}
	twice=$(grep -o "PUT /$bp/log/[^ ]*" "$MPS3_TEST_S3_PROXY_LOG" | sort | uniq -d | head -3)
	is "$twice" "" "no log entry key was written twice"
fi
done_testing
