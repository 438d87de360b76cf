#!/usr/bin/env bash
# A file:// bucket directory moved away and made again under its name
# while mounted (issue 9, item 12): the mount goes on with the directory
# the name gives now, and while the name gives none it is offline, without
# taking anything for deleted.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
[[ $BACKEND == file ]] || { echo "usage: $0 file (a file:// bucket only)" >&2; exit 2; }
new_db
DIR=${URL#file://}
mount_fs a
A=$MNT
echo one >"$A/one"
check "the first file lands" timeout 60 "$MPS3" sync "$A"
# Restored from a copy: a new directory with the same content.
mv "$DIR" "$DIR.moved"
cp -a "$DIR.moved" "$DIR"
echo two >"$A/two"
check "a write after the directory was made again lands" timeout 60 "$MPS3" sync "$A"
is "$(m ls | tr '\n' ' ')" "one two " "in the new directory"
is "$(MPS3_BIN=$MPS3 "$MPS3" "file://$DIR.moved" ls | tr '\n' ' ')" "one " "and not in the old one"
# Gone for a while: offline, nothing deleted on the mount, then back.
mv "$DIR" "$DIR.gone"
echo three >"$A/three"
wait_for 30 bash -c '"$0" status "$1" | grep -q "^state: offline"' "$MPS3" "$A" || fail "status says offline"
is "$(cat "$A/one")" one "a missing store directory takes nothing away from the mount"
mv "$DIR.gone" "$DIR"
check "when it is back, the write made meanwhile lands" timeout 120 "$MPS3" sync "$A"
is "$(m get three)" three "it is in the bucket"
umount_fs a warnings-ok
done_testing
