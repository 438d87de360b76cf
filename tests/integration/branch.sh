#!/usr/bin/env bash
# Branches (issue 12): a branch created from the main line, written through
# a mount of it (-o branch=NAME) and the CLI (--branch), seen by a main
# mount at .mps3/branches/NAME and not in its tree, diffed, committed as
# one log entry that a main mount's watcher sees; a commit after the main
# line changed the same path is refused naming it; --rebase without
# overlap commits and moves the base.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db
echo base | m put x
echo base | m put y
check "branch create" m branch create dev
mount_fs b
B=$MNT
mount_fs d branch=dev
D=$MNT
watch_all "$D"
is "$(cat "$D/x")" base "the branch starts from the main line"
echo "from dev" >"$D/x"
echo new >"$D/added"
rm "$D/y"
"$MPS3" sync "$D"
echo cli | m --branch=dev put bycli
wait_for 30 test -f "$D/bycli" || true
check "a change to the branch by another client reaches the branch's mount" test -f "$D/bycli"
wait_for 30 grep -q "CLOSE_WRITE,CLOSE bycli" "$T/events" || true
check "and its watchers" grep -q "CLOSE_WRITE,CLOSE bycli" "$T/events"
is "$(m get x)" base "the main line is untouched"
check "a main mount does not show the branch's changes in its tree" test "$(cat "$B/x")" = base -a ! -e "$B/added"
is "$(ls "$B/.mps3/branches")" dev "it lists the branch"
is "$(cat "$B/.mps3/branches/dev/x")" "from dev" "and shows it read-only at .mps3/branches/dev"
m branch diff dev >"$T/diff"
is "$(cut -f1,2 "$T/diff" | sort | tr '\t\n' ': ')" "put:added put:bycli put:x rm:y " "branch diff: what it changed"
n0=$(m log --entries | wc -l)
inotifywait -m -r -q -e close_write,delete,moved_to "$B" >"$T/bevents" 2>/dev/null &
wp=$!
at_exit "kill $wp 2>/dev/null; wait $wp 2>/dev/null"
sleep 0.5
check "branch commit" m branch commit dev
is "$(($(m log --entries | wc -l) - n0))" 1 "one log entry"
wait_for 30 bash -c '[[ $(cat "$0/x") == "from dev" && -f $0/added && ! -e $0/y ]]' "$B" || true
check "the main mount shows all of it" test "$(cat "$B/x")" = "from dev" -a -f "$B/added" -a ! -e "$B/y"
wait_for 30 grep -q "DELETE y" "$T/bevents" || true
check "and its watcher saw it" grep -q "CLOSE_WRITE,CLOSE added" "$T/bevents"

# The main line and the branch change the same path: refused, the path named.
echo main >"$B/x"
"$MPS3" sync "$B"
echo dev >"$D/x"
"$MPS3" sync "$D"
set +e
m branch commit dev >/dev/null 2>"$T/conflict"
rc=$?
set -e
is "$rc" 1 "a conflicting commit exits 1"
check "naming the path" grep -q "^  x$" "$T/conflict"
is "$(m get x)" main "and commits nothing"
# Rebase: the branch goes on from the main line; then a change without overlap commits.
echo dev-only >"$D/z"
"$MPS3" sync "$D"
set +e
m branch commit dev --rebase 2>/dev/null
rc=$?
set -e
is "$rc" 1 "--rebase does not hide a conflict"
m --branch=dev rm x || true
echo main >"$T/m"
m --branch=dev put x "$T/m"
check "without overlap, commit --rebase succeeds" m branch commit dev --rebase
is "$(m get z)" dev-only "the branch's change is in the main line"
m branch diff dev >"$T/diff2"
is "$(wc -l <"$T/diff2")" 0 "and after the rebase the branch differs from it in nothing"
umount_fs d
umount_fs b
check "branch rm" m branch rm dev
is "$(m branch ls)" "" "it is gone"
done_testing
