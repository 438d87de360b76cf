#!/usr/bin/env bash
# The mount as the system sees it (issue 14): its source and type in
# mountinfo, who holds a cache directory when a second mount is refused, a
# dead holder's record blocking nothing, the default cache directory per
# mount point (and the old naming's journal replayed, not forgotten), a
# remount right after a umount waiting for the old daemon's uploads,
# logfile= and loglevel=, and df's figures; a change found by a LIST
# settling once it is lag old.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db

# The source and type of the mount at $1, as /proc/self/mountinfo has them (octal escapes left).
mountinfo_of() {
	awk -v m="$(realpath "$1")" '{ for (i = 7; $i != "-"; i++); if ($5 == m) print $(i + 1), $(i + 2) }' \
		/proc/self/mountinfo
}
# Bytes Used and Avail of the mount at $1, as df computes them.
df_of() { stat -f -c '%b %f %a %S' "$1" | awk '{ printf "%.0f %.0f\n", ($1 - $2) * $4, $3 * $4 }'; }

# Whether the store answers: a file:// bucket moved away, or the proxy cutting the s3 one off.
DIR=
if [[ $BACKEND == s3 ]]; then start_proxy; else DIR=${URL#file://}; fi
store_offline() { if [[ $BACKEND == s3 ]]; then proxy offline; else mv "$DIR" "$DIR.away"; fi; }
store_online() { if [[ $BACKEND == s3 ]]; then proxy online; else mv "$DIR.away" "$DIR"; fi; }

# --- the source is the URL, the type fuse.mps3fs; a user's fsname= wins -----------
mount_fs a
A=$MNT
APID=${FS_PID[a]}
is "$(mountinfo_of "$A")" "fuse.mps3fs $URL" "mountinfo: type fuse.mps3fs, source the URL"
is "$(findmnt -n -o SOURCE "$A")" "$URL" "findmnt shows the URL as the source"
is "$(df --output=source "$A" | tail -n 1)" "$URL" "df shows the URL as the source"
ODD="file://$T/odd, dir\\x"
mkdir -p "$T/odd"
"$MPS3FS" -f -o "cache_dir=$T/odd.cache" "$ODD" "$T/odd" 2>"$T/odd.err" &
FS_PID[odd]=$!
at_exit "umount_quiet odd"
wait_for 60 mountpoint -q "$T/odd" || true
is "$(mountinfo_of "$T/odd")" "fuse.mps3fs file://$T/odd,\\040dir\\134x" \
	"a URL with a comma, a space and a backslash: whole in mountinfo (the kernel's escapes)"
is "$(findmnt -J -o SOURCE "$T/odd" | python3 -c 'import json, sys; print(json.load(sys.stdin)["filesystems"][0]["source"])')" \
	"$ODD" "and in findmnt"
umount_fs odd
mount_fs named fsname=mine
is "$(mountinfo_of "$MNT")" "fuse.mps3fs mine" "-o fsname= wins over the URL"
umount_fs named

# --- a second mount of the same cache directory says who has it -------------------
mkdir -p "$T/a2"
at_exit "fusermount3 -uz '$T/a2' 2>/dev/null"
rc=0
ep=
[[ $BACKEND == s3 ]] && ep=",endpoint=$PROXY_EP"
timeout 60 "$MPS3FS" -f -o "cache_dir=$T/a.cache$ep" "$URL" "$T/a2" 2>"$T/a2.err" || rc=$?
is "$rc" 1 "a second mount of a cache directory in use fails"
want="$URL is already mounted at $(realpath "$A") by process $APID (cache dir $(realpath "$T/a.cache")); unmount it or give -o cache_dir="
if grep -qF -- "$want" "$T/a2.err"; then ok "it names the mount point and the process"; else
	fail "it names the mount point and the process"
	diag "want: $want"
	sed 's/^/# /' "$T/a2.err"
fi
check "the journal's holder record is private" test "$(stat -c %a "$T/a.cache/journal/holder")" = 600
umount_fs a

# --- a dead holder's record blocks nothing ---------------------------------------
sh -c 'exit 0' &
dead=$!
wait "$dead"
printf '{"pid":%d,"url":"%s","mountpoint":"/gone","state":"mounted","until":null}' "$dead" "$URL" \
	>"$T/a.cache/journal/holder"
mount_fs a
check "a record of a process that is gone does not block the mount" mountpoint -q "$A"
is "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$T/a.cache/journal/holder")" \
	"${FS_PID[a]}" "the new mount records itself as the holder"
umount_fs a

# --- a remount waits for a holder that is still unmounting -------------------------
# (a process holding the lock and saying it is uploading after an unmount, for 10 minutes)
mkdir -p "$T/w.cache/journal"
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a"); fcntl.flock(f, fcntl.LOCK_EX); open(sys.argv[2], "w").close(); time.sleep(600)' \
	"$T/w.cache/journal/log" "$T/w.held" &
holder=$!
at_exit "kill $holder 2>/dev/null; wait $holder 2>/dev/null"
wait_for 60 test -e "$T/w.held"
printf '{"pid":%d,"url":"%s","mountpoint":"/gone","state":"unmounting","until":%d}' "$holder" "$URL" \
	$(($(now_ms) + 600000)) >"$T/w.cache/journal/holder"
mkdir -p "$T/w"
"$MPS3FS" -f -o "cache_dir=$T/w.cache$ep" "$URL" "$T/w" 2>"$T/w.err" &
FS_PID[w]=$!
at_exit "umount_quiet w"
check "a mount finding its journal held by a daemon still unmounting waits, saying so" \
	wait_for 60 grep -q "waiting for process $holder to finish unmounting from /gone" "$T/w.err"
check "and is not mounted meanwhile" test "$(mountinfo_of "$T/w")" = ""
kill "$holder"
wait "$holder" 2>/dev/null || true
check "once the holder is gone, the mount goes ahead" wait_for 60 mountpoint -q "$T/w"
umount_fs w
# One that still says it is mounted here, where nothing is (its unmount began a moment ago), too.
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a"); fcntl.flock(f, fcntl.LOCK_EX); open(sys.argv[2], "w").close(); time.sleep(600)' \
	"$T/w.cache/journal/log" "$T/w.held2" &
holder=$!
at_exit "kill $holder 2>/dev/null; wait $holder 2>/dev/null"
wait_for 60 test -e "$T/w.held2"
printf '{"pid":%d,"url":"%s","mountpoint":"%s","state":"mounted","until":null}' "$holder" "$URL" \
	"$(realpath "$T/w")" >"$T/w.cache/journal/holder"
"$MPS3FS" -f -o "cache_dir=$T/w.cache$ep" "$URL" "$T/w" 2>"$T/w.err" &
FS_PID[w]=$!
check "a holder that says it is mounted where nothing is mounted is waited for" \
	wait_for 60 grep -q "waiting for process $holder to finish unmounting from $(realpath "$T/w")" "$T/w.err"
kill "$holder"
wait "$holder" 2>/dev/null || true
check "and once it is gone, the mount goes ahead" wait_for 60 mountpoint -q "$T/w"
umount_fs w

# --- and so does a real remount right after a umount, while the old daemon uploads ----
# (s3 only: a fresh process would make a missing file:// bucket directory afresh)
if [[ $BACKEND == s3 ]]; then
	mount_fs x drain=60s
	X=$MNT
	old=${FS_PID[x]}
	store_offline
	echo late >"$X/late"
	check "unmounted with an upload pending" fusermount3 -u "$X"
	mv "$T/x.err" "$T/x-old.err" # the old daemon goes on writing there
	"$MPS3FS" -f -o "cache_dir=$T/x.cache,poll=500ms$ep" "$URL" "$X" 2>"$T/x.err" &
	FS_PID[x]=$!
	check "a remount at once waits for the old daemon, which is still uploading" \
		wait_for 60 grep -q "waiting for process $old to finish unmounting from $(realpath "$X")" "$T/x.err"
	store_online
	rc=0
	wait "$old" || rc=$?
	is "$rc" 0 "the old daemon uploads what was pending and exits 0"
	check "then the remount goes ahead" wait_for 60 mountpoint -q "$X"
	is "$(cat "$X/late")" late "it shows the change made before the umount"
	is "$(m get late)" late "which is in the bucket"
	umount_fs x
fi

# --- logfile= and loglevel= -------------------------------------------------------
mount_fs l logfile="$T/l.log" loglevel=info
check "logfile= is created private" test "$(stat -c %a "$T/l.log")" = 600
check "an info line reaches the log file" wait_for 60 grep -qF "$URL mounted on $(realpath "$MNT")" "$T/l.log"
mv "$T/l.log" "$T/l.log.1"
kill -HUP "${FS_PID[l]}"
check "SIGHUP reopens the log file (logrotate) and does not unmount" wait_for 60 test -e "$T/l.log"
check "still mounted after SIGHUP" mountpoint -q "$MNT"
umount_fs l
check "the unmount's line goes to the new file" grep -qF "$URL unmounted from" "$T/l.log"
check "and not to the rotated one" test "$(grep -cF "unmounted from" "$T/l.log.1")" = 0
mount_fs q logfile="$T/q.log" loglevel=warn
umount_fs q
check "loglevel=warn leaves the info lines out" test "$(grep -c "mounted on\|unmounted from" "$T/q.log")" = 0
rc=0
timeout 60 "$MPS3FS" -f -o "cache_dir=$T/bad.cache,loglevel=loud" "$URL" "$T/w" 2>"$T/bad.err" || rc=$?
check "loglevel=loud is a usage error" test "$rc" = 2 -a -n "$(grep "loglevel=loud: use err, warn" "$T/bad.err")"

# --- df: Used is what is not in the bucket yet ------------------------------------
mount_fs s
read -r used0 avail0 < <(df_of "$MNT")
"$MPS3" batch "$MNT" -- sh -c 'head -c 1048576 /dev/urandom >"$1/held" && stat -f -c "%b %f %a %S" "$1"' \
	sh "$MNT" >"$T/s.statfs"
read -r used1 avail1 < <(awk '{ printf "%.0f %.0f\n", ($1 - $2) * $4, $3 * $4 }' "$T/s.statfs")
check "df's Used counts a write held back by a batch ($used0 -> $used1 bytes)" test "$used1" -ge $((used0 + 1048576))
check "and Size is Used plus Avail, not a made-up 4 PiB ($avail1 available)" test "$avail1" -lt $((1 << 50))
timeout 60 "$MPS3" sync "$MNT"
read -r used2 avail2 < <(df_of "$MNT")
is "$used2" 0 "once it is in the bucket, Used is 0 again"
umount_fs s

# --- the default cache directory: per mount point; the old naming's journal kept -----
BASE=${XDG_CACHE_HOME:?}/mps3fs
[[ $(id -u) == 0 ]] && BASE=/var/cache/mps3fs
H=$(printf %s "$URL" | sha256sum | cut -c1-16)
at_exit "rm -rf '$BASE/$H' '$BASE/$H'-*"
hmnt() { printf %s "$(realpath "$T/$1")" | sha256sum | cut -c1-16; }
# A mount of an earlier version (cache BASE/HASH) whose unmount came before its upload.
mount_fs o cache_dir="$BASE/$H" drain=1s logfile="$T/o.log"
store_offline
echo kept >"$MNT/pending"
umount_fs o warnings-ok
store_online
check "unmount's 'not uploaded' warning reaches the log file" \
	grep -q "warning: .*1 changed paths were not uploaded within 1000 ms" "$T/o.log"
check "and stderr in the foreground" grep -q "warning: .*changed paths were not uploaded" "$T/o.err"
# Mounted again with the default cache: the old directory is this mount point's now.
mkdir -p "$T/p"
FS_CACHE_DIR='' mount_fs p drain=1s
check "the old naming's cache directory becomes the mount point's" test -d "$BASE/$H-$(hmnt p)" -a ! -e "$BASE/$H"
check "its journal is uploaded" timeout 60 "$MPS3" sync "$MNT"
is "$(m get pending)" kept "the change acknowledged before that unmount is in the bucket"
# And this mount too ends before its upload.
store_offline
echo kept2 >"$MNT/pending2"
umount_fs p warnings-ok
store_online
# Another mount point has its own cache; it is told of the journal left at the first.
FS_CACHE_DIR='' mount_fs r
check "a mount elsewhere has a cache directory of its own" test -d "$BASE/$H-$(hmnt r)"
check "and is told of the changes left in the journal at the first" \
	grep -qF "the journal in $BASE/$H-$(hmnt p) (of the mount at $(realpath "$T/p")) holds changes" "$T/r.err"
FS_CACHE_DIR='' mount_fs p
check "two mounts of one URL at once, each with its own cache" \
	bash -c 'mountpoint -q "$0" && mountpoint -q "$1" && [[ -d $2 && -d $3 ]]' "$T/r" "$T/p" \
	"$BASE/$H-$(hmnt r)" "$BASE/$H-$(hmnt p)"
check "back at its mount point, the journal is uploaded" timeout 60 "$MPS3" sync "$MNT"
is "$(m get pending2)" kept2 "the change acknowledged before the second unmount is in the bucket"
umount_fs p
umount_fs r warnings-ok

# --- on a terminal, the first load says what it is doing; on a pipe, nothing --
mkdir -p "$T/tty"
topts="cache_dir=$T/tty.cache"
[[ $BACKEND == s3 ]] && topts+=",endpoint=$MPS3_TEST_S3_ENDPOINT"
python3 "$SRCDIR/tests/integration/ontty.py" /dev/null "$MPS3FS" -f -o "$topts" "$URL" "$T/tty" >"$T/tty.out" &
tty_pid=$!
wait_for 60 mountpoint -q "$T/tty"
fusermount3 -u "$T/tty"
wait "$tty_pid" || true
check "mps3fs on a terminal: a progress line while the database loads" grep -q "mps3fs: loading $URL" "$T/tty.out"

# --- the FUSE loop's options are honoured ------------------------------------
fuse_fds() { find "/proc/$1/fd" -lname /dev/fuse 2>/dev/null | wc -l; }
# The daemon names each thread it starts (mps3-poller, mps3-put, ...); the ones
# that keep the process's own name are the main thread and the FUSE loop's
# workers, however many uploads or fetches happen to be running.
loop_threads() { grep -lx "$(cat "/proc/$1/comm")" /proc/"$1"/task/*/comm 2>/dev/null | wc -l; }
busy() { # read many files at once, so that the loop has many requests in flight
	local i pids=()
	for ((i = 0; i < 16; i++)); do
		cat "$1"/loop* >/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}" # (not a bare wait: the daemons are children too)
}
FS_ARGS=-s mount_fs s1
for ((i = 0; i < 20; i++)); do echo "$i" >"$MNT/loop$i"; done
busy "$MNT"
is "$(cat "$MNT/loop7"):$(fuse_fds "${FS_PID[s1]}")" "7:1" "-s: the mount works, on one /dev/fuse"
is "$(loop_threads "${FS_PID[s1]}")" 1 "-s: the requests are served on the main thread alone"
umount_fs s1
mount_fs s2 clone_fd,max_idle_threads=4,max_threads=8
for ((i = 0; i < 20; i++)); do echo "$i" >"$MNT/loop$i"; done
busy "$MNT"
check "-o clone_fd: the workers have /dev/fuse descriptors of their own" test "$(fuse_fds "${FS_PID[s2]}")" -ge 2
check "without -s, the FUSE loop has worker threads beside the main one" test "$(loop_threads "${FS_PID[s2]}")" -ge 2
umount_fs s2

# --- a change found by a LIST settles once it is lag old, with no other change after it ----
# (An old writer's head names one entry and no link: the mount LISTs.  It used to keep the
# entry in its window, and the values beside it, until some later change.)
mount_fs st lag=2s,stale=1s
plant '{"settle/d":{"type":"d","mode":493}}'
check "a planted entry under an old writer's head arrives" wait_for 60 test -d "$MNT/settle/d"
window_empty() { grep -q '^log window: 0 entries' "$MNT/.mps3/status"; }
check "and its window empties without another change" wait_for 60 window_empty
grep '^log window' "$MNT/.mps3/status" | sed 's/^/# /'
umount_fs st
done_testing
