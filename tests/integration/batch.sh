#!/usr/bin/env bash
# Atomic batches (issue 12): mps3 batch MNT -- CMD.  A batch that writes
# 200 files and renames a directory: mount B sees none of it while it
# runs, then all of it after one poll, with every event; the bucket gets
# exactly one log entry.  A failing batch leaves both mounts as before.
# kill -9 of the daemon during a batch: the next mount discards it (the
# documented outcome), nothing half-applied; fsync inside a batch returns.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db
mount_fs a
A=$MNT
mount_fs b
B=$MNT
echo before >"$A/keep"
# drop/ exists before: inotifywait -r watches a directory only once it saw it made, and can miss
# the files a replay writes into a new one at once (a limit of inotify, not of the batch).
mkdir "$A/old" "$A/drop"
echo o >"$A/old/x"
"$MPS3" sync "$A"
wait_for 30 test -f "$B/old/x" -a -d "$B/drop" || fail "B sees the starting tree"
entries() { m log --entries | wc -l; }
n0=$(entries)
watch_into "$T/events" "$B" -e create,moved_to,moved_from,close_write
cat >"$T/job" <<JOB
set -e
for i in \$(seq 1 200); do echo "file \$i" >"$A/drop/f\$i"; done
mv "$A/old" "$A/new"
python3 -c 'import os; fd = os.open("$A/drop/f1", os.O_RDWR); os.fsync(fd); os.close(fd)'
sleep 1.5 # B polls several times meanwhile
ls "$B" >"$T/during"
test -e "$B/drop/f1" && exit 9 || true
JOB
check "a batch of 200 files and a directory rename" "$MPS3" batch "$A" -- bash "$T/job"
is "$(tr '\n' ' ' <"$T/during")" "drop keep old " "while the batch ran, B saw none of it"
wait_for 30 bash -c '[[ $(ls "$0/drop" 2>/dev/null | wc -l) == 200 && -d $0/new && ! -e $0/old ]]' "$B" || true
is "$(ls "$B/drop" | wc -l)" 200 "after it, B has all 200 files"
check "and the rename" test -f "$B/new/x" -a ! -e "$B/old"
is "$(($(entries) - n0))" 1 "the bucket has exactly one new log entry for the batch"
wait_for 30 bash -c '[[ $(grep -c "drop/ CLOSE_WRITE,CLOSE f" "$0") -ge 200 ]]' "$T/events" || true
is "$(grep -c "drop/ CLOSE_WRITE,CLOSE f" "$T/events")" 200 "B's watcher saw every file written"
if grep -q "MOVED_TO,ISDIR new" "$T/events" && grep -q "MOVED_FROM,ISDIR old" "$T/events"; then
	ok "and the rename, as one move"
else
	fail "events: $(grep -i moved "$T/events" | tr '\n' ';')"
fi

# A file another process still writes when the batch commits: what was closed in the batch goes with it.
: >"$A/held"
"$MPS3" sync "$A"
python3 - "$A/held" "$T" <<'PY' &
import os, sys, time
p, t = sys.argv[1], sys.argv[2]
def wait(name):
    for _ in range(600):
        if os.path.exists(t + "/" + name):
            return
        time.sleep(0.05)
fd = os.open(p, os.O_WRONLY | os.O_APPEND)
open(t + "/opened", "w").close()
wait("flag1")
os.write(fd, b" more")
open(t + "/flag2", "w").close()
wait("flag3")
os.close(fd)
PY
hpid=$!
wait_for 30 test -e "$T/opened" || true
n2=$(entries)
check "a batch that writes a file another process holds open and writes" \
	"$MPS3" batch "$A" -- bash -c "printf cmd >'$A/held'; touch '$T/flag1'
		while [ ! -e '$T/flag2' ]; do sleep 0.05; done; echo other >'$A/other'"
is "$(($(entries) - n2))" 1 "one entry"
is "$(m get held)" cmd "with the file as the batch closed it (the other writer's bytes come at its own close)"
is "$(m get other)" other "and the rest of the batch"
touch "$T/flag3"
wait "$hpid" || true
"$MPS3" sync "$A"
is "$(m get held)" "cmd more" "the other writer's close commits what it wrote"

# A batch that fails: both mounts as before.
n1=$(entries)
set +e
"$MPS3" batch "$A" -- bash -c "echo changed >'$A/keep'; echo junk >'$A/junk'; rm -r '$A/new'; exit 3" 2>"$T/fail.err"
rc=$?
set -e
is "$rc" 3 "a failing batch exits with its command's status"
check "and says its changes were thrown away" grep -q "thrown away" "$T/fail.err"
is "$(cat "$A/keep")" before "mount A shows the file as it was"
check "without what the batch made" test ! -e "$A/junk"
check "with what it removed" test -f "$A/new/x"
"$MPS3" sync "$A"
sleep 1
is "$(($(entries) - n1))" 0 "nothing reached the bucket"
is "$(cat "$B/keep")" before "mount B never saw it"
# --keep commits whatever the command's status.
set +e
"$MPS3" batch "$A" --keep -- bash -c "echo kept >'$A/kept'; exit 1"
set -e
wait_for 30 test -f "$B/kept" || true
is "$(cat "$B/kept" 2>/dev/null)" kept "--keep commits even when the command fails"

# kill -9 of the daemon during a batch: discarded at the next mount.
"$MPS3" batch "$A" -- bash -c "echo half >'$A/half'; sleep 60" >/dev/null 2>&1 &
bpid=$!
wait_for 30 test -f "$A/half" || fail "the batch started"
pid=${FS_PID[a]}
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
kill "$bpid" 2>/dev/null || true
wait "$bpid" 2>/dev/null || true
fusermount3 -uz "$A" 2>/dev/null || true
unset "FS_PID[a]"
mount_fs a2 "cache_dir=$T/a.cache"
check "the next mount discards the interrupted batch" grep -q "discarded [0-9]* change(s) of a batch" "$T/a2.err"
check "it is not on the remounted tree" test ! -e "$MNT/half"
check "mps3 sync returns" timeout 60 "$MPS3" sync "$MNT"
if m get half >/dev/null 2>&1; then fail "nothing of it reached the bucket"; else ok "nothing of it reached the bucket"; fi
check "what was committed before is intact" test -f "$MNT/kept" -a "$(ls "$MNT/drop" | wc -l)" = 200
umount_fs a2 warnings-ok
umount_fs b
done_testing
