#!/usr/bin/env bash
# POSIX conformance under a real mount (what pjdfstest and fsx found,
# issue 9): tests/posix/posix.c runs in the mount and its TAP lines are
# passed on; then a second mount of the same bucket must show the tree it
# left exactly as the first one did, and unmounting must flush it all.
# POSIX_BIN: the posix binary; POSIX_NO_SPARSE=1 leaves out the 3 GiB file.
. "$(dirname "$0")/../integration/lib.sh" "$@"
require_fuse
POSIX=${POSIX_BIN:?POSIX_BIN must point at the posix test binary}
new_db
mount_fs a
A=$MNT
set +e
"$POSIX" "$A" >"$T/posix.tap" 2>"$T/posix.err"
rc=$?
set -e
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok * - }" ;;
	"not ok "*) fail "${line#not ok * - }" ;;
	"#"*) echo "$line" ;;
	esac
done <"$T/posix.tap"
is "$rc" 0 "the posix checks exit 0$( [[ -s $T/posix.err ]] && echo " ($(head -c 200 "$T/posix.err"))")"
before=$(tree_digest "$A/posix")
times=$(stat -c '%X %Y' "$A/posix/times/u")
umount_fs a
mount_fs b
B=$MNT
wait_for 30 test -d "$B/posix/times" || true
is "$(tree_digest "$B/posix")" "$before" "another mount shows the same tree: types, modes, sizes, content"
is "$(stat -c '%X %Y' "$B/posix/times/u")" "$times" "and the same access and modification times"
umount_fs b
done_testing
