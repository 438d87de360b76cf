#!/usr/bin/env bash
# A file:// bucket is a directory that its writers share: links planted in
# it must not lead the CLI or the daemon (often root) to delete or write
# outside it (red-team finding).  The store's scratch directory .tmp, a
# directory of objects and an object are each replaced by a link to a
# canary directory; every command goes on working, and the canaries are
# untouched.
. "$(dirname "$0")/../integration/lib.sh" "$@"
[[ $BACKEND == file ]] || { echo "usage: $0 file (a file:// bucket only)" >&2; exit 2; }
require_fuse
new_db
echo seed | m put seed
echo original | m put dir/obj
ROOT=${URL#file://}
mkdir -p "$T/canary1" "$T/canary2" "$T/canary3"
echo precious >"$T/canary1/old.conf"
touch -d '2 hours ago' "$T/canary1/old.conf" # what the sweep of stale temporary files would take
echo secret >"$T/canary3/obj"
canaries() { (cd "$T" && find canary1 canary2 canary3 -printf '%p %s %T@\n' | sort | sha256sum); }
before=$(canaries)
rm -rf "$ROOT/.tmp" && ln -s "$T/canary1" "$ROOT/.tmp"
rm -rf "$ROOT/blobs%2F" && ln -s "$T/canary2" "$ROOT/blobs%2F"
rm -rf "$ROOT/dir%2F" && ln -s "$T/canary3" "$ROOT/dir%2F"
m ls >/dev/null 2>&1 || true
if echo "after the links" | m put newfile; then ok "a put after the links were planted works"; else
	fail "a put after the links were planted works"
fi
is "$(m get newfile)" "after the links" "and it reads back"
if m get dir/obj >"$T/got" 2>/dev/null && [[ $(cat "$T/got") == secret ]]; then
	fail "an object read through a planted link gives what is outside the bucket"
else
	ok "an object behind a planted link is not read from outside the bucket"
fi
mount_fs a
A=$MNT
echo "through the mount" >"$A/viafs"
check "a write through the mount lands" timeout 60 "$MPS3" sync "$A"
is "$(m get viafs)" "through the mount" "and reads back"
umount_fs a warnings-ok
m gc --grace 0 >/dev/null 2>&1 || true
is "$(canaries)" "$before" "nothing outside the bucket was deleted, written or changed"
check "the scratch directory is a real directory again" test -d "$ROOT/.tmp" -a ! -L "$ROOT/.tmp"
done_testing
