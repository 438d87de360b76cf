#!/usr/bin/env bash
# Branches (issue 12): a branch created from the main line is a writable
# directory of every main mount, MNT/.mps3/branches/NAME.  Written on mount
# A, it is seen (with inotify events) in the branch on mount B and not in
# either main tree; diffed; committed as one log entry that B's watcher
# sees; a commit after the main line changed the same path is refused
# naming it; --rebase without overlap commits and moves the base.  A
# mount of the branch itself (-o branch=NAME) shows the same.  kill -9 of
# a mount with branch writes not yet uploaded: the next mount uploads them.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
[[ $BACKEND == s3 ]] && start_proxy # mount A goes through it: the store can fail under A alone
new_db
echo base | m put x
echo base | m put y
check "branch create" m branch create dev
mount_fs a
A=$MNT
FS_ENDPOINT='' mount_fs b
B=$MNT
AD=$A/.mps3/branches/dev
BD=$B/.mps3/branches/dev
is "$(ls "$A/.mps3/branches")" dev "a main mount lists the branch"
is "$(cat "$AD/x")" base "the branch starts from the main line"
watch_all "$BD"

# Written through A's branch directory, with the tools of any directory.
echo "from dev" >"$AD/x"
echo new >"$AD/added"
rm "$AD/y"
mkdir "$AD/sub"
echo s >"$AD/sub/s"
mv "$AD/sub" "$AD/sub2"
chmod 600 "$AD/added"
check "mps3 sync MNT waits for the branches written under it" timeout 60 "$MPS3" sync "$A"
is "$(m --branch=dev get x)" "from dev" "the write is in the bucket, on the branch"
check "mps3 status lists the branch open in the mount" \
	bash -c '"$0" status "$1" | grep -q "^branch dev: online, 0 pending paths"' "$MPS3" "$A"
is "$(m get x)" base "the main line is untouched"
check "A's main tree does not show it" test "$(cat "$A/x")" = base -a ! -e "$A/added" -a -e "$A/y"
wait_for 30 test -f "$BD/sub2/s" || true
check "B's branch directory shows A's writes" test "$(cat "$BD/x")" = "from dev" -a -f "$BD/sub2/s" -a ! -e "$BD/y" \
	-a ! -e "$BD/sub"
is "$(stat -c %a "$BD/added")" 600 "with their modes"
wait_for 30 grep -q "DELETE y" "$T/events" || true
check "B's watcher on the branch saw the files written" grep -q "CLOSE_WRITE,CLOSE added" "$T/events"
check "and removed" grep -q "DELETE y" "$T/events"
check "B's main tree does not show them" test "$(cat "$B/x")" = base -a ! -e "$B/added"
echo cli | m --branch=dev put bycli
wait_for 30 test -f "$AD/bycli" || true
check "a write by the CLI (--branch) reaches the mount's branch directory" test "$(cat "$AD/bycli")" = cli
echo moving >"$A/tomove"
check "mv from the main tree into the branch (EXDEV: mv copies)" mv "$A/tomove" "$AD/moved"
check "the file is in the branch and out of the main tree" test "$(cat "$AD/moved")" = moving -a ! -e "$A/tomove"
check "the name .mps3 cannot be made in a branch" bash -c '! mkdir "$0/.mps3" 2>/dev/null' "$AD"
check "a name that is no branch does not exist" test ! -e "$A/.mps3/branches/nosuch"
check "and made no cache directory" test ! -e "$T/a.cache/branches/nosuch"
"$MPS3" sync "$A"

m branch diff dev >"$T/diff"
is "$(cut -f1,2 "$T/diff" | sort | tr '\t\n' ': ')" "mkdir:sub2 put:added put:bycli put:moved put:sub2/s put:x rm:y " \
	"branch diff: what it changed"
n0=$(m log --entries | wc -l)
watch_into "$T/bevents" "$B" -e close_write,delete,moved_to
check "branch commit" m branch commit dev
is "$(($(m log --entries | wc -l) - n0))" 1 "one log entry"
wait_for 30 bash -c '[[ $(cat "$0/x") == "from dev" && -f $0/sub2/s && ! -e $0/y ]]' "$B" || true
check "B's main tree shows all of it" test "$(cat "$B/x")" = "from dev" -a -f "$B/added" -a -f "$B/sub2/s" -a ! -e "$B/y"
wait_for 30 grep -q "DELETE y" "$T/bevents" || true
check "and B's watcher saw it" grep -q "CLOSE_WRITE,CLOSE added" "$T/bevents"

# The main line and the branch change the same path: refused, the path named.
echo main >"$B/x"
"$MPS3" sync "$B"
echo dev >"$AD/x"
"$MPS3" sync "$A"
set +e
m branch commit dev >/dev/null 2>"$T/conflict"
rc=$?
set -e
is "$rc" 1 "a conflicting commit exits 1"
check "naming the path" grep -q "^  x$" "$T/conflict"
is "$(m get x)" main "and commits nothing"
# Rebase: the branch goes on from the main line; then a change without overlap commits.
echo dev-only >"$AD/z"
"$MPS3" sync "$A"
set +e
m branch commit dev --rebase 2>/dev/null
rc=$?
set -e
is "$rc" 1 "--rebase does not hide a conflict"
echo main >"$AD/x"
"$MPS3" sync "$A"
check "without overlap, commit --rebase succeeds" m branch commit dev --rebase
is "$(m get z)" dev-only "the branch's change is in the main line"
m branch diff dev >"$T/diff2"
is "$(wc -l <"$T/diff2")" 0 "and after the rebase the branch differs from it in nothing"

# A mount of the branch itself shows what the branch directories show.
mount_fs d branch=dev
D=$MNT
wait_for 30 test -f "$BD/z" || true
is "$(cd "$D" && find . | sort | tr '\n' ' ')" "$(cd "$BD" && find . | sort | tr '\n' ' ')" \
	"-o branch=dev shows the same tree as .mps3/branches/dev"
umount_fs d
umount_fs b

# kill -9 with a branch write not yet in the bucket: the next mount opens the branch by itself and uploads it.
if [[ $BACKEND == s3 ]]; then
	proxy offline
else
	mv "${URL#file://}" "${URL#file://}.away"
fi
echo pending >"$AD/pending"
kill -9 "${FS_PID[a]}"
wait "${FS_PID[a]}" 2>/dev/null || true
fusermount3 -uz "$A" 2>/dev/null || true
unset "FS_PID[a]"
if [[ $BACKEND == s3 ]]; then
	proxy online
else
	mv "${URL#file://}.away" "${URL#file://}"
fi
pending_landed() { [[ $(m --branch=dev get pending 2>/dev/null) == pending ]]; }
if pending_landed; then fail "the write was not in the bucket at the kill"; else ok "the write was not in the bucket at the kill"; fi
mount_fs a2 "cache_dir=$T/a.cache"
wait_for 60 pending_landed || true
is "$(m --branch=dev get pending 2>/dev/null)" pending "the remount uploaded the branch write that close() had acknowledged"
check "having opened the branch by itself" grep -q "branch dev has changes of the last run" "$T/a2.err"

# A rebase reaches those who hold the branch's state already: the mount's branch directory,
# the CLI's saved state, and a checkpoint one of them writes after it (the red team's lost write).
A2=$MNT
echo main1 | m put p
m branch create st
is "$(cat "$A2/.mps3/branches/st/p")" main1 "a branch directory open before the rebase"
echo b1 | m --branch=st put q
echo main2 | m put p
check "commit --rebase" m branch commit st --rebase
is "$(m --branch=st get p)" main2 "after a rebase, a client that held the branch's state sees the main line's change"
wait_for 30 bash -c '[[ $(cat "$0") == main2 ]]' "$A2/.mps3/branches/st/p" || true
is "$(cat "$A2/.mps3/branches/st/p")" main2 "and so does the branch directory"
m --branch=st checkpoint >/dev/null
echo b2 | m --branch=st put q
check "a commit after a checkpoint of the branch" m branch commit st
is "$(m get p)" main2 "writes nothing old back to the main line"
is "$(m get q)" b2 "and commits the branch's change"
umount_fs a2
check "branch rm" m branch rm st
check "branch rm" m branch rm dev
is "$(m branch ls)" "" "it is gone"
done_testing
