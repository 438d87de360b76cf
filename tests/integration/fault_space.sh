#!/usr/bin/env bash
# Full disks and small caches (issue 9, items 1, 4 and 10): files bigger
# than cache_size, and a cache directory on a 24 MB tmpfs.  close() must say
# ENOSPC when it could not keep a write, never 0; what it acknowledged must
# reach the bucket; a failed write must not wedge the ones after it; the
# cache must make room by dropping content already in the bucket.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db

# ---- files larger than the cache ------------------------------------------------
mount_fs a cache_size=32M
A=$MNT
head -c $((40 << 20)) /dev/urandom >"$T/f40"
check "a 40 MB file is written under cache_size=32M" cp "$T/f40" "$A/f40"
check "and reads back whole" cmp "$T/f40" "$A/f40"
head -c $((32 << 20)) /dev/urandom >"$T/part"
{ cat "$T/part" "$T/part" "$T/part" "$T/part" "$T/part"; } >"$T/f160"
check "a 160 MB file (5x the cache) is written" cp "$T/f160" "$A/f160"
check "mps3 sync returns" timeout 300 "$MPS3" sync "$A"
check "the 40 MB file still reads back" cmp "$T/f40" "$A/f40"
check "the 160 MB file reads back, streamed through the cache" cmp "$T/f160" "$A/f160"
du=$(du -sm "$T/a.cache" | cut -f1)
if ((du <= 48)); then ok "the cache stays near its size ($du MB)"; else fail "the cache holds $du MB"; fi
umount_fs a
# A fresh cache: the 160 MB file streams from the bucket and the cache's disk use stays bounded all along.
mount_fs b cache_size=32M
B=$MNT
(
	max=0
	while [[ ! -e $T/b.done ]]; do
		cur=$(du -sm "$T/b.cache" 2>/dev/null | cut -f1)
		((cur > max)) && max=$cur
		echo "$max" >"$T/b.max"
		sleep 0.1
	done
) &
sampler=$!
check "a fresh mount with cache_size=32M reads the 160 MB file" cmp "$T/f160" "$B/f160"
touch "$T/b.done"
wait "$sampler"
max=$(cat "$T/b.max")
if ((max <= 64)); then ok "its cache never held more than $max MB"; else fail "its cache held $max MB"; fi
umount_fs b
check "another client reads the 160 MB file from the bucket" bash -c "$(declare -f m); MPS3=$MPS3 BACKEND=$BACKEND \
URL=$URL MPS3_TEST_S3_ENDPOINT=${MPS3_TEST_S3_ENDPOINT:-} m get f160 | cmp - '$T/f160'"
rm -f "$T/f160" "$T/part"

# ---- a cache directory on a small tmpfs -----------------------------------------
mkdir -p "$T/small"
[[ $(id -u) == 0 ]] || { fail "a small tmpfs for cache_dir needs root (mount -t tmpfs)"; done_testing; exit 1; }
mount -t tmpfs -o size=24m,mode=0700 tmpfs "$T/small"
at_exit "umount -l '$T/small'"
mount_fs s "cache_dir=$T/small/cache"
S=$MNT
head -c $((50 << 20)) /dev/urandom >"$T/f50"
if cp "$T/f50" "$S/big" 2>"$T/cp.err"; then
	fail "a 50 MB copy into a 24 MB cache reports an error"
else
	ok "a 50 MB copy into a 24 MB cache reports an error ($(tr '\n' ' ' <"$T/cp.err" | head -c 80))"
fi
# The last close of the file drops what could not be kept, and its space (FUSE sends that after close returns).
wait_for 30 grep -q "could not be kept and is dropped" "$T/s.err" || fail "the unkept content is dropped"
# What the kernel cached of the dropped writes is gone with them: the new file reads as the empty file it is.
if wait_for 30 test "$(stat -c %s "$S/big" 2>&1)" = 0; then
	ok "the dropped file's size is 0 again"
else
	fail "the dropped file's size is $(stat -c %s "$S/big" 2>&1), not 0"
fi
is "$(wc -c <"$S/big")" 0 "and it reads as empty, not as the dropped writes"
for i in 1 2 3 4 5; do
	printf 'small %d\n' "$i" >"$S/s$i" || fail "small file $i after the failed copy"
done
check "mps3 sync returns after the failed copy" timeout 120 "$MPS3" sync "$S"
got=0
for i in 1 2 3 4 5; do [[ $(m get "s$i" 2>/dev/null) == "small $i" ]] && got=$((got + 1)); done
is "$got" 5 "the five files written after it are in the bucket"
# Uploaded content makes room: 4 x 8 MB in sequence fit in 24 MB only if the cache drops what is in the bucket.
for i in 1 2 3 4; do
	head -c $((8 << 20)) /dev/urandom >"$T/e$i"
	check "8 MB file $i of 4 is written" cp "$T/e$i" "$S/e$i"
	check "and uploaded" timeout 120 "$MPS3" sync "$S"
done
for i in 1 2 3 4; do check "8 MB file $i reads back" cmp "$T/e$i" "$S/e$i"; done
# A disk filled by someone else: the cache drops what is in the bucket to make room.
rm -f "$T/e"?
head -c $((30 << 20)) /dev/zero >"$T/small/filler1" 2>/dev/null || true
check "a write into a full disk succeeds when the cache can make room" bash -c "printf 'room 1\n' >'$S/r1'"
# Filled again, with nothing left to drop: the writer must hear of it.
head -c $((30 << 20)) /dev/zero >"$T/small/filler2" 2>/dev/null || true
if head -c $((1 << 20)) /dev/urandom >"$S/full" 2>"$T/full.err"; then
	fail "a write into a full disk reports an error"
else
	ok "a write into a full disk reports an error ($(head -c 80 "$T/full.err"))"
fi
rm -f "$T/small/filler1" "$T/small/filler2"
check "with room again, a write succeeds" bash -c "printf 'room\n' >'$S/after'"
check "and mps3 sync returns" timeout 120 "$MPS3" sync "$S"
is "$(m get after 2>/dev/null)" room "it is in the bucket"
is "$(m get r1 2>/dev/null)" "room 1" "and so is the one written into the full disk"
"$MPS3" status "$S" >"$T/status" 2>&1 || true
if grep -q "cannot upload" "$T/status"; then fail "no path is stuck: $(cat "$T/status")"; else ok "no path is stuck"; fi
umount_fs s warnings-ok
done_testing
