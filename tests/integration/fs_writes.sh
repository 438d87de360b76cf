#!/usr/bin/env bash
# The write path's requests: a rename of a directory of N files is one log
# entry and sends no blob again (the content is in the bucket already);
# content this mount just uploaded under one name is not sent again under
# another; and everything still reads right from a second mount.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db
mount_fs a
A=$MNT
mount_fs b
B=$MNT
N=300

entries() { m log --entries | wc -l; }
# blob_puts MARK: blobs stored since MARK (s3: PUTs of blobs/ in the server's log after line MARK;
# file: blob files written after the file MARK).
blob_mark() {
	if [[ $BACKEND == s3 ]]; then wc -l <"$MPS3_TEST_S3_PROXY_LOG"; else
		touch "$T/mark.$1"
		echo "$T/mark.$1"
	fi
}
blob_puts() {
	if [[ $BACKEND == s3 ]]; then
		local bucket=${URL#s3://}
		bucket=${bucket%%/*}
		tail -n "+$(($1 + 1))" "$MPS3_TEST_S3_PROXY_LOG" | grep -c " PUT /$bucket/db/blobs/" || true
	else
		find "${URL#file://}" -path '*blobs*' -type f -newer "$1" | wc -l
	fi
}

mkdir "$A/dir"
for i in $(seq 1 $N); do echo "content of file $i" >"$A/dir/f$i"; done
head -c 100000 /dev/urandom >"$A/dir/big"
"$MPS3" sync "$A"
wait_for 60 test -f "$B/dir/big" || fail "B sees the directory"
n0=$(entries)
mark=$(blob_mark mv)
sleep 1.1 # file: a blob written again would be newer than the mark by the clock's granularity
check "mv of a directory of $((N + 1)) files" mv "$A/dir" "$A/moved"
"$MPS3" sync "$A"
is "$(($(entries) - n0))" 1 "the rename is one log entry"
is "$(blob_puts "$mark")" 0 "and sends no blob"
wait_for 60 test -f "$B/moved/big" -a ! -e "$B/dir" || fail "B sees the rename"
is "$(cat "$B/moved/f7")" "content of file 7" "B reads a moved file"
is "$(cmp "$A/moved/big" "$B/moved/big" && echo same)" same "and the big one, byte for byte"

# A copy of content just uploaded: one entry, no blob sent again; a new content is sent once.
mark=$(blob_mark cp)
sleep 1.1
cp "$A/moved/big" "$A/copy"
echo "new content" >"$A/new"
"$MPS3" sync "$A"
is "$(blob_puts "$mark")" 1 "a copy of uploaded content sends only the new file's blob"
wait_for 60 test -f "$B/copy" -a -f "$B/new" || fail "B sees the copy"
is "$(cmp "$A/moved/big" "$B/copy" && echo same)" same "B reads the copy"
is "$(cat "$B/new")" "new content" "and the new file"

# A fresh mount remembers nothing: what it writes is sent (it cannot know the bucket has it).
umount_fs a
mount_fs a2
mark=$(blob_mark fresh)
sleep 1.1
cp "$T/a2/moved/f1" "$T/a2/f1copy"
"$MPS3" sync "$T/a2"
is "$(blob_puts "$mark")" 1 "a fresh mount sends content it did not upload itself"
umount_fs a2
umount_fs b
done_testing
