#!/usr/bin/env bash
# Time travel (issue 11): /.mps3/at/TIME shows each past version, read-only,
# with the modes and times of then; snapshots are seen by every mount and
# kept by gc; gc keeps what the history window needs and collects the
# rest; restore (by URL and through a mount) brings back files and
# directories and removes what was made since, and a second mount's
# watchers see it; mps3 log PATH tells every kind of change; get --at.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db
mount_fs a
A=$MNT
mount_fs b
B=$MNT
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%S.%3NZ; }
# Each mark is a moment between two changes, a second away from both.
mark() { "$MPS3" sync "$A" && sleep 1.1 && date +%s.%N && sleep 1.1; }

echo v1 >"$A/f"
echo keep >"$A/x"
mkdir -p "$A/d/sub"
echo a >"$A/d/a"
echo b >"$A/d/sub/b"
echo y >"$A/y"
T1=$(mark)
echo v2 >"$A/f"
chmod 600 "$A/x"
rm "$A/y"
T2=$(mark)
echo v3 >"$A/f"
mv "$A/d" "$A/e"
echo c >"$A/e/c"
rm "$A/e/a"
echo new >"$A/new"
T3=$(mark)

# ---- views --------------------------------------------------------------------
is "$(cat "$A/.mps3/at/$(iso "$T1")/f")" v1 "at T1 (ISO time) f is v1"
is "$(cat "$A/.mps3/at/@$T2/f")" v2 "at T2 (@epoch) f is v2"
is "$(cat "$A/.mps3/at/@$T3/f")" v3 "at T3 f is v3"
is "$(cat "$A/.mps3/at/-0s/f")" v3 "now (relative) f is v3"
is "$(stat -c %a "$A/.mps3/at/@$T1/x")" 644 "stat at T1 shows the mode of then"
is "$(stat -c %a "$A/.mps3/at/@$T2/x")" 600 "and at T2 the one after chmod"
if (($(stat -c %Y "$A/.mps3/at/@$T1/f") < $(stat -c %Y "$A/f"))); then ok "the view's mtime is the old one"; else
	fail "view mtime $(stat -c %Y "$A/.mps3/at/@$T1/f") vs live $(stat -c %Y "$A/f")"
fi
check "at T1 y exists" test -f "$A/.mps3/at/@$T1/y"
check "at T2 it is gone" test ! -e "$A/.mps3/at/@$T2/y"
check "at T2 the directory d is where it was" test -f "$A/.mps3/at/@$T2/d/sub/b" -a ! -e "$A/.mps3/at/@$T2/e"
check "at T3 it moved to e" test -f "$A/.mps3/at/@$T3/e/sub/b" -a ! -e "$A/.mps3/at/@$T3/d"
is "$(ls "$A/.mps3/at/@$T1/d" | tr '\n' ' ')" "a sub " "a view lists a directory of then"
set +e
echo x 2>"$T/w1.err" >"$A/.mps3/at/@$T1/f"
touch "$A/.mps3/at/@$T1/newfile" 2>"$T/w2.err"
rm "$A/.mps3/at/@$T1/f" 2>"$T/w3.err"
mkdir "$A/.mps3/at/@$T1/dd" 2>"$T/w4.err"
set -e
if grep -q "Read-only file system" "$T/w1.err" && grep -q "Read-only file system" "$T/w2.err" &&
	grep -q "Read-only file system" "$T/w3.err" && grep -q "Read-only file system" "$T/w4.err"; then
	ok "writes, creations, removals and mkdir in a view fail with EROFS"
else
	fail "writes into a view: $(cat "$T"/w?.err | tr '\n' ' ')"
fi
check "a time older than the history window (history=, 7 days) is not offered" \
	test ! -e "$A/.mps3/at/2000-01-01T00:00:00Z"
check "a name that is no time does not exist" test ! -e "$A/.mps3/at/yesterday"
is "$(m get --at "@$T1" f)" v1 "mps3 get --at gives an old version"

# ---- snapshots ----------------------------------------------------------------------
check "snapshot create" m snapshot create before-move --at "@$T2"
m snapshot ls >"$T/snaps"
check "snapshot ls lists it" grep -q "^before-move " "$T/snaps"
wait_for 30 test -d "$B/.mps3/snapshots/before-move" || true
is "$(ls "$B/.mps3/snapshots")" before-move "a second mount lists the snapshot"
is "$(cat "$B/.mps3/snapshots/before-move/f")" v2 "and reads it"
check "its time is listed under .mps3/at" test -n "$(ls "$B/.mps3/at")"
set +e
m snapshot create before-move >/dev/null 2>"$T/dup.err"
rc=$?
set -e
if ((rc == 1)) && grep -q exists "$T/dup.err"; then ok "a snapshot name is taken once"; else fail "duplicate: rc $rc"; fi
check "a snapshot of now (the map written as text)" m snapshot create now
now_f=$(m get f)
wait_for 30 test -f "$B/.mps3/snapshots/now/f" || true
is "$(cat "$B/.mps3/snapshots/now/f")" "$now_f" "reads what the database held then"
is "$(m snapshot ls | grep -c '^now ')" 1 "and is listed"

# ---- log PATH ---------------------------------------------------------------------------
# One change per entry, so that each is told by its own kind.
for op in 'ln -s f "$A/lnk"' 'mkfifo "$A/fifo"' 'touch -d @1700000000 "$A/x"' \
	'setfattr -n user.tag -v hello "$A/x"' 'chown 1234 "$A/x"'; do
	eval "$op"
	"$MPS3" sync "$A"
done
m log >"$T/log"
for want in "put    f" "rm     y" "mv     d -> e" "mkdir  d" "link   lnk" "chmod  x" "touch  x" "xattr  x" \
	"chown  x" "mknod  fifo"; do
	if grep -qF -- "$want" "$T/log"; then ok "log tells: $want"; else fail "log lacks '$want'"; fi
done
# (A new file may also show as made empty first: the upload can catch it between open and close.)
m log --json f >"$T/logf"
found=0
for v in v1 v2 v3; do
	grep -q "\"blob\":\"$(printf '%s\n' "$v" | sha256sum | cut -c1-64)\"" "$T/logf" && found=$((found + 1))
done
is "$found" 3 "log f: each of the three versions of f"
m log --json f | sed -n 1p >"$T/log1"
check "log --json: one object per change, with the op and the mode" grep -q '"op":"put".*"path":"f"' "$T/log1"
for i in $(seq 1 20); do echo "$i" | m put "many/k$i"; done
m rm -r many
if m log many | sed -n 1p | grep "20 paths: 20 rm" >/dev/null; then ok "an entry of many changes is one summary line"; else
	fail "summary: $(m log many | head -2)"
fi

# ---- restore ------------------------------------------------------------------------------
watch_all "$B"
sleep 0.5
out=$(m restore --at "@$T1" f)
check "restore of a file by URL" grep -q "restored 1 path" <<<"$out"
wait_for 30 grep -qE "(MODIFY|CLOSE_WRITE|MOVED_TO).* f$" "$T/events" || true
wait_for 30 bash -c '[[ $(cat "$0/f") == v1 ]]' "$B" || true
is "$(cat "$B/f")" v1 "the second mount shows the restored file"
if grep -qE "(MODIFY|CLOSE_WRITE|MOVED_TO).* f$" "$T/events"; then ok "and its watcher saw it"; else
	fail "events: $(tr '\n' ';' <"$T/events" | tail -c 400)"
fi
out=$(m restore --at "@$T2" d e new)
diag "$out"
wait_for 30 test -f "$B/d/a" || true
# The replay makes what comes back first and removes last: wait for the last event.
wait_for 30 grep -qE "DELETE.* new$" "$T/events" || true
check "restore of a directory brings back what was removed since" test -f "$B/d/a" -a -f "$B/d/sub/b"
check "and what was made since is gone (a path that did not exist then)" test ! -e "$B/e" -a ! -e "$B/new"
if grep -qE "CREATE.* a$|MOVED_TO.* d$|CREATE,ISDIR d$" "$T/events" && grep -qE "DELETE.* new$" "$T/events"; then
	ok "the watcher saw the creations and removals"
else
	fail "events: $(tr '\n' ';' <"$T/events" | tail -c 600)"
fi
# Through the mount: ordinary file operations, so the watchers of the other mount see them too.
wait_for 30 test -f "$A/d/a" || fail "mount A sees the restored directory"
echo later >"$A/d/a"
echo gone >"$A/d/extra"
"$MPS3" sync "$A"
check "restore --at TIME MOUNT/PATH" "$MPS3" restore --at "@$T2" "$A/d"
set +e
"$MPS3" restore --at "../../../tmp" "$A/d" 2>/dev/null
rc=$?
set -e
is "$rc" 2 "restore --at refuses a TIME that is a path (it names a directory of .mps3/at)"
is "$(cat "$A/d/a")" a "through the mount: the old content is back"
check "and the file made since is gone" test ! -e "$A/d/extra"
wait_for 30 bash -c '[[ ! -e $0/d/extra && $(cat "$0/d/a") == a ]]' "$B" || true
is "$(cat "$B/d/a")" a "the other mount sees it"
check "and the removal" test ! -e "$B/d/extra"
if (($(m log d/a | grep -c ' put ') >= 3)); then ok "history is never rewritten: restores are changes like any other"; else
	fail "log d/a: $(m log d/a)"
fi
is "$(m log d/a | wc -l)" "$(m log --json d/a | wc -l)" "log and log --json agree"

# ---- the change feed carries its context --------------------------------------------------
m_bg "$T/watch.out" "$T/watch.err" --poll=200ms watch --json
wait_for 30 grep -q "^mps3: watching" "$T/watch.err" || fail "watch started"
mv "$A/x" "$A/x2"
chmod 640 "$A/f"
"$MPS3" sync "$A"
wait_for 30 grep -q '"key":"f"' "$T/watch.out" || true
if grep -q '"op":"mv".*"to":"x2"' "$T/watch.out" && ! grep -q '"key":"x2"' "$T/watch.out"; then
	ok "watch --json: a rename is one mv record"
else
	fail "watch: $(cat "$T/watch.out")"
fi
if grep '"key":"f"' "$T/watch.out" | grep '"mode":"0640".*"session":"[0-9a-f]\{16\}".*"time":"20' >/dev/null; then
	ok "watch --json: modes in octal, and the commit's session and time"
else
	fail "watch: $(grep '"key":"f"' "$T/watch.out")"
fi

# ---- views are bounded: any local user can name a new time each lookup (red team: 900 names, 3.9 GB)
t1=${T1%.*}
opened=0 refused=0 other=0
for i in $(seq 1 80); do
	if out=$(stat -c %n "$A/.mps3/at/@$t1.$(printf %03d "$i")" 2>&1); then
		opened=$((opened + 1))
	elif [[ $out == *"Too many open files"* ]]; then
		refused=$((refused + 1))
	else
		other=$((other + 1))
	fi
done
check "distinct views past the limit are refused with EMFILE ($opened opened, $refused refused, $other other)" \
	test "$opened" -le 64 -a "$refused" -ge 16 -a "$other" -eq 0
check "said once" test "$(grep -c "views of the past open in this mount hold all they may" "$T/a.err")" -eq 1
is "$(cat "$A/f")" "$(m get f)" "and the live tree goes on"

# ---- gc keeps what the history window and snapshots need --------------------------------
umount_fs a warnings-ok
umount_fs b
old_blob=$(printf 'v1\n' | sha256sum | cut -c1-64)
v2_blob=$(printf 'v2\n' | sha256sum | cut -c1-64)
sleep 2 # S3 times objects to the second
m gc --grace 0s >"$T/gc1"
diag "$(cat "$T/gc1")"
check "gc within the 7-day window keeps old content" raw_exists "blobs/$v2_blob"
is "$(m get --at "@$T1" y)" y "and every past state"
# Two checkpoints well after every change so far, with a short replay window: the older of the two
# kept ones is then at least 5 s after the last change, and the log before it is GC's to take.
sleep 9
m --lag=4s --stale=2s checkpoint >/dev/null
sleep 1
m --lag=4s --stale=2s checkpoint >/dev/null
m --lag=4s --stale=2s gc --grace 0s --history 0s >"$T/gc2"
diag "$(cat "$T/gc2")"
check "with no window, content only the snapshot names is kept" raw_exists "blobs/$v2_blob"
y_blob=$(printf 'y\n' | sha256sum | cut -c1-64)
if raw_exists "blobs/$y_blob"; then fail "content nothing keeps any more is collected"; else
	ok "content nothing keeps any more is collected"
fi
check "gc recorded from when states are whole" raw_exists history
set +e
m get --at "@$T1" y >/dev/null 2>"$T/old.err"
rc=$?
set -e
if ((rc == 1)) && grep -q "no longer kept" "$T/old.err"; then ok "an older state is refused, not made up"; else
	fail "get --at before the history: rc $rc $(cat "$T/old.err")"
fi
is "$(m get f)" v1 "the current state is intact"
check "snapshot rm" m snapshot rm before-move
check "snapshot rm" m snapshot rm now
check "snapshot ls no longer lists them" test -z "$(m snapshot ls)"
done_testing
