#!/usr/bin/env bash
# The write path's requests: a rename of a directory of N files is one log
# entry and sends no blob again (the content is in the bucket already);
# content this mount just uploaded under one name is not sent again under
# another; large files written in order are hashed while written, others
# at close; and everything still reads right from a second mount.  kill -9
# with the store offline loses no acknowledged large file, and a file
# killed mid-write leaves no entry (s3: through the fault proxy).
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

# Large files: hashed while written when written in order from empty, else at close; right either way.
hashed() { sed -n 's/^files hashed while written: //p' "$A/.mps3/status"; }
head -c $((40 << 20)) /dev/urandom >"$T/big"
h0=$(hashed)
dd if="$T/big" of="$A/seq" bs=1M status=none
is "$(($(hashed) - h0))" 1 "a 40 MiB file written in order is hashed while written"
python3 - "$T/big" "$A/rnd" "$A/over" "$A/trunc" <<'PY'
import os, random, sys
data = open(sys.argv[1], "rb").read()
mib = 1 << 20
# Out of order: every MiB once, shuffled.
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
offs = list(range(0, len(data), mib))
random.Random(7).shuffle(offs)
for o in offs:
    os.pwrite(fd, data[o:o + mib], o)
os.close(fd)
# In order, then a write back over the first bytes before close.
fd = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data)
os.pwrite(fd, b"OVERWRITTEN", 5)
os.close(fd)
# In order, then cut short.
fd = os.open(sys.argv[4], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data)
os.ftruncate(fd, len(data) - 12345)
os.close(fd)
PY
is "$(($(hashed) - h0))" 1 "files written out of order, over themselves or truncated are hashed at close"
python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); d[5:16] = b"OVERWRITTEN"; open(sys.argv[2], "wb").write(d)' \
	"$T/big" "$T/big.over"
head -c $(((40 << 20) - 12345)) "$T/big" >"$T/big.trunc"
"$MPS3" sync "$A"
wait_for 60 test -f "$B/seq" -a -f "$B/rnd" -a -f "$B/over" -a -f "$B/trunc" || fail "B sees the large files"
sum() { sha256sum <"$1" | cut -c1-64; }
is "$(sum "$B/seq")" "$(sum "$T/big")" "B reads the file hashed while written"
is "$(sum "$B/rnd")" "$(sum "$T/big")" "and the one written out of order"
is "$(sum "$B/over")" "$(sum "$T/big.over")" "and the one written over"
is "$(sum "$B/trunc")" "$(sum "$T/big.trunc")" "and the truncated one"
is "$(m get seq | sha256sum | cut -c1-64)" "$(sum "$T/big")" "the bucket's blob of it is its content"

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

# kill -9 with the store unreachable: a 40 MiB file hashed while written and closed is
# acknowledged and must come back; one killed mid-write was not, and leaves no entry.
if [[ $BACKEND == s3 ]]; then
	new_db
	start_proxy
	mount_fs k
	K=$MNT
	pid=${FS_PID[k]}
	echo before >"$K/before"
	check "the first file is in the bucket" timeout 120 "$MPS3" sync "$K"
	proxy offline
	head -c $((40 << 20)) /dev/urandom >"$T/crash.want"
	check "a 40 MiB file written and closed while offline" dd if="$T/crash.want" of="$K/done" bs=1M status=none
	is "$(sed -n 's/^files hashed while written: //p' "$K/.mps3/status")" 1 "it was hashed while written"
	# Mid-write: a writer that never closes, killed with the daemon.
	python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for _ in range(24):
    os.write(fd, os.urandom(1 << 20))
open(sys.argv[2], "w").close()
time.sleep(600)' "$K/partial" "$T/partial.started" &
	wpid=$!
	at_exit "kill $wpid 2>/dev/null"
	wait_for 120 test -e "$T/partial.started" || fail "the partial writer got going"
	kill -9 "$pid"
	kill "$wpid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true
	fusermount3 -uz "$K" 2>/dev/null || true
	unset "FS_PID[k]"
	proxy online
	mount_fs k2 "cache_dir=$T/k.cache"
	check "mps3 sync after the crash" timeout 300 "$MPS3" sync "$MNT"
	umount_quiet k2
	is "$(m get done | sha256sum | cut -c1-64)" "$(sha256sum <"$T/crash.want" | cut -c1-64)" \
		"the acknowledged 40 MiB file is in the bucket with its bytes"
	is "$(m ls | tr '\n' ' ')" "before done " "the file killed mid-write has no entry"
	check "fsck: every blob the state names is there" m fsck
fi
done_testing
