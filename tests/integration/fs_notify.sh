#!/usr/bin/env bash
# Changes made on mount A arrive on mount B as the inotify events a local
# writer would have caused, with matching rename cookies; cat/stat on B then
# show A's result.  Also: a subdirectory watch sees only its subtree, a bulk
# change of 1000 files arrives whole while B stays responsive, and a soak of
# local writes on B during remote replays loses nothing, deadlocks nowhere
# and reports B's own writes exactly once.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
SOAK=${MPS3_TEST_SOAK_S:-60}
POLL=200ms
new_db
mount_fs a
A=$MNT
mount_fs b
B=$MNT
WATCH=$SRCDIR/tests/integration/inotify_watch.py

start_watch() { # OUTFILE ARGS...: the watcher's pid in WPID, ready when it says so
	local out=$1
	shift
	/usr/bin/python3 "$WATCH" "$@" >"$out" 2>&1 &
	WPID=$!
	at_exit "kill $WPID 2>/dev/null"
	wait_for 60 grep -q READY "$out"
}
start_watch "$T/ev" -r "$B"
FROM=1
# expect LABEL EVENT...: the interesting events after the last check are exactly these.
# An EVENT is "KIND path" or "KIND path @c" for a cookie shared with the previous @c.
expect() {
	local label=$1 got want i
	shift
	want=$(printf '%s\n' "$@")
	for ((i = 0; i < 600; i++)); do # a liveness bound (60 s): it returns once the events are there
		got=$(tail -n +"$FROM" "$T/ev" | awk '$1 ~ /^(CREATE|MODIFY|CLOSE_WRITE|ATTRIB|MOVED_FROM|MOVED_TO|DELETE)(,|$)/ {
			split($1, k, ","); kind = k[1]; if ($1 ~ /ISDIR/) kind = kind ",ISDIR"
			if (kind ~ /^MOVED/) print kind, $2, "@" ($3 == cookie ? "c" : "c?"); else print kind, $2
			cookie = $3 }')
		[[ $(wc -l <<<"$got") -ge $# && -n $got ]] && break
		sleep 0.1
	done
	is "$got" "$want" "$label: events on B"
	FROM=$(($(wc -l <"$T/ev") + 1))
}

echo one >"$A/f"
expect "create" "CREATE f" "MODIFY f" "CLOSE_WRITE f"
is "$(cat "$B/f")" "one" "create: cat on B"
echo two >"$A/f"
expect "overwrite" "MODIFY f" "CLOSE_WRITE f"
is "$(cat "$B/f")" "two" "overwrite: cat on B"
echo three >>"$A/f"
expect "append" "MODIFY f" "CLOSE_WRITE f"
is "$(cat "$B/f")" $'two\nthree' "append: cat on B"
truncate -s 2 "$A/f"
expect "truncate" "MODIFY f" "CLOSE_WRITE f"
is "$(cat "$B/f")" "tw" "truncate: cat on B"
chmod 600 "$A/f"
expect "chmod" "ATTRIB f"
is "$(stat -c %a "$B/f")" 600 "chmod: stat on B"
mv "$A/f" "$A/g"
expect "rename of a file" "MOVED_FROM f @c?" "MOVED_TO g @c"
is "$(cat "$B/g")" "tw" "rename: content under the new name on B"
mkdir "$A/d"
expect "mkdir" "CREATE,ISDIR d"
echo x >"$A/d/x"
expect "file in the new directory" "CREATE d/x" "MODIFY d/x" "CLOSE_WRITE d/x"
# Several entries, so that the moved tree's entries must be compared in order.
echo y >"$A/d/y"
ln -s x "$A/d/z"
expect "second file and a link in the directory" "CREATE d/y" "MODIFY d/y" "CLOSE_WRITE d/y" "CREATE d/z"
mv "$A/d" "$A/e"
expect "rename of a directory" "MOVED_FROM,ISDIR d @c?" "MOVED_TO,ISDIR e @c"
is "$(cat "$B/e/x" "$B/e/y" "$B/e/z")" $'x\ny\nx' "renamed directory's files on B"
rm "$A/e/x" "$A/e/y" "$A/e/z"
expect "rm in the directory" "DELETE e/x" "DELETE e/y" "DELETE e/z"
rmdir "$A/e"
expect "rmdir" "DELETE,ISDIR e"
ln -s g "$A/lnk"
expect "symlink" "CREATE lnk"
is "$(readlink "$B/lnk")" "g" "symlink: readlink on B"
rm "$A/g"
expect "rm" "DELETE g"
check "rm: gone on B" test ! -e "$B/g"
# A shell redirection closes its descriptor (after dup2) before the command
# writes: the empty file in between is not a change of its own for others.
{
	sleep 0.3
	echo late
} >"$A/late"
expect "redirection closed before the write" "CREATE late" "MODIFY late" "CLOSE_WRITE late"
is "$(cat "$B/late")" "late" "redirection: cat on B"
is "$(m log late | grep -c ' put ')" 1 "redirection: one change in the log, not an empty file first"
# A writer whose children close the shared descriptor as they exit (each a
# flush) while it keeps writing: the hold is not renewed, so B sees lines
# while the file is still open on A.
{
	for ((i = 0; i < 600; i++)); do
		[[ -e $T/seen ]] && break
		echo "line $i"
		/bin/true
		sleep 0.1
	done
} >"$A/held" &
hpid=$!
at_exit "kill $hpid 2>/dev/null"
wait_for 60 grep -qs "^line" "$B/held" || true
if grep -qs "^line" "$B/held" && kill -0 "$hpid" 2>/dev/null; then
	ok "held writer: B sees lines while A still writes"
else
	fail "held writer: B sees lines while A still writes (B has: $(head -c 40 "$B/held" 2>&1))"
fi
touch "$T/seen"
wait "$hpid"
if grep -q '^MOVED' <(tail -n 40 "$T/ev") && ! awk '$1 ~ /^MOVED/ && $3 == 0 {bad=1} END {exit bad}' "$T/ev"; then
	fail "rename cookies are non-zero"
else
	ok "rename cookies are non-zero"
fi
kill "$WPID" 2>/dev/null

# --- tail -f on B follows lines appended on A ----------------------------------------
echo "line 0" >"$A/log"
wait_for 60 test -s "$B/log"
tail -f "$B/log" >"$T/tail.out" 2>/dev/null &
tpid=$!
at_exit "kill $tpid 2>/dev/null"
sleep 0.5
for i in 1 2 3; do
	echo "line $i" >>"$A/log"
	sleep 0.3
done
wait_for 60 grep -q "line 3" "$T/tail.out" || true
kill "$tpid" 2>/dev/null
is "$(cat "$T/tail.out")" $'line 0\nline 1\nline 2\nline 3' "tail -f on B follows lines appended on A"

# --- a watch on a subdirectory reports only its subtree --------------------------
mkdir "$A/sub" "$A/other"
wait_for 60 test -d "$B/sub" -a -d "$B/other"
start_watch "$T/sub" "$B/sub"
echo in >"$A/sub/in"
echo out >"$A/other/out"
wait_for 60 grep -q "CLOSE_WRITE in" "$T/sub" || true
wait_for 60 test -e "$B/other/out" || true
sleep 0.5
if grep -q "CLOSE_WRITE in" "$T/sub" && ! grep -q "out" "$T/sub"; then
	ok "a subdirectory watch sees its change and nothing from elsewhere"
else
	fail "subdirectory watch: $(tr '\n' ';' <"$T/sub")"
fi
kill "$WPID" 2>/dev/null

# --- a bulk change of 1000 files -------------------------------------------------------
mkdir "$A/bulk"
wait_for 60 test -d "$B/bulk"
start_watch "$T/bulk" "$B/bulk"
mkdir -p "$T/src"
for i in $(seq 1 1000); do echo "$i" >"$T/src/$i"; done
cp "$T/src/"* "$A/bulk/"
worst=0
for ((i = 0; i < 600; i++)); do
	a=$(now_ms)
	ls "$B" >/dev/null
	dt=$(($(now_ms) - a))
	((dt > worst)) && worst=$dt
	[[ $(grep -c '^CLOSE_WRITE' "$T/bulk") -ge 1000 ]] && break
	sleep 0.1
done
is "$(grep -c '^CREATE ' "$T/bulk")" 1000 "bulk: 1000 CREATE events on B"
is "$(grep -c '^CLOSE_WRITE' "$T/bulk")" 1000 "bulk: 1000 CLOSE_WRITE events on B"
diag "slowest ls of B during the bulk replay: ${worst} ms"
if ((worst < 5000)); then ok "B answered ls throughout"; else fail "an ls on B took ${worst} ms"; fi
check "bulk: every file's content on B" diff -r "$T/src" "$B/bulk"
kill "$WPID" 2>/dev/null

# --- soak: local writes on B while A's changes are replayed ------------------------------
mkdir "$B/own" "$A/theirs"
wait_for 60 test -d "$A/own" -a -d "$B/theirs"
start_watch "$T/soak" -r "$B"
end=$((SECONDS + SOAK))
writer() { # DIR PREFIX -> count of writes in $T/PREFIX.n
	local n=0
	while ((SECONDS < end)); do
		echo "$2 $n" >"$1/$((n % 50))"
		n=$((n + 1))
	done
	echo "$n" >"$T/$2.n"
}
writer "$B/own" b &
wb=$!
writer "$A/theirs" a &
wa=$!
rb=0 ra=0
wait $wb || rb=$?
wait $wa || ra=$?
is "$rb:$ra" "0:0" "soak: both writers ran ${SOAK} s without an error (no deadlock)"
nb=$(cat "$T/b.n")
na=$(cat "$T/a.n")
diag "writes: B $nb, A $na"
/usr/bin/python3 -c 'import os,sys; [os.fsync(os.open(p, os.O_RDONLY)) for p in sys.argv[1:]]' "$A/own" "$B/own"
sync_all() { /usr/bin/python3 -c 'import os,sys; os.fsync(os.open(sys.argv[1], os.O_RDONLY))' "$1/own/0"; }
sync_all "$A"
sync_all "$B"
# Both are durable now; the other mount has them once its poller has been
# round.  Wait for that (bounded) rather than for a guess at how long it takes.
soak_missing() { # one line for each file that lacks its last write on the other mount
	local i last
	for ((i = 0; i < 50 && i < nb; i++)); do
		last=$(((nb - 1) - ((nb - 1 - i) % 50)))
		[[ "$(cat "$A/own/$i" 2>/dev/null)" == "b $last" ]] ||
			echo "own/$i on A: '$(cat "$A/own/$i" 2>/dev/null)' want 'b $last'"
	done
	for ((i = 0; i < 50 && i < na; i++)); do
		last=$(((na - 1) - ((na - 1 - i) % 50)))
		[[ "$(cat "$B/theirs/$i" 2>/dev/null)" == "a $last" ]] ||
			echo "theirs/$i on B: '$(cat "$B/theirs/$i" 2>/dev/null)' want 'a $last'"
	done
}
soak_done() { [[ -z $(soak_missing) ]]; }
t0=$(now_ms)
wait_for 60 soak_done || true
diag "the last writes were on the other mount $(($(now_ms) - t0)) ms after both syncs"
soak_missing >"$T/soak.missing"
while read -r line; do diag "$line"; done <"$T/soak.missing"
lost=$(wc -l <"$T/soak.missing")
is "$lost" 0 "soak: the last write of every file is on the other mount"
kill "$WPID" 2>/dev/null
is "$(grep -c '^CLOSE_WRITE own/' "$T/soak")" "$nb" "soak: each of B's own writes reported once on B, none replayed back"
umount_fs a
umount_fs b
done_testing
