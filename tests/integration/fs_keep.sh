#!/usr/bin/env bash
# The chunks of a big file a mount fetched outlive it: kept at a clean
# unmount and after a kill -9, taken up by the next mount, each checked
# against the file's chunk list before it is read; tampered, torn, planted
# or too many of them are not used.  To know where a byte came from, the
# blob is removed from the bucket: what still reads came from the cache.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db

CH=$((4 << 20))
head -c $((10 * CH)) /dev/urandom >"$T/big"
sha=$(sha256sum <"$T/big" | cut -c1-64)
m put big "$T/big"
PART=$T/k.cache/partial

# at OFF [FILE]: 4 KiB of the mounted file at OFF (exit status of the read)
at() { timeout 60 dd if="${2:-$MNT/big}" bs=4096 count=1 skip="$1" iflag=skip_bytes status=none; }
# right CHUNK WHAT: 4 KiB inside chunk CHUNK read through the mount are the file's
right() {
	local off=$(($1 * CH + 4096 * $1 + 123))
	check "$2" cmp -s <(at $off) <(at $off "$T/big")
}
# fails CHUNK WHAT: a read inside chunk CHUNK fails
fails() { check "$2" bash -c "! timeout 60 dd if='$MNT/big' of=/dev/null bs=4096 count=1 skip=$(($1 * CH)) iflag=skip_bytes status=none"; }

mount_fs k cache_size=64M
for c in 1 3 5; do right $c "chunk $c reads right through the first mount"; done
umount_fs k
kept=$(find "$PART" -type f -name "$sha-*" | head -1)
check "a clean unmount keeps the partial file with the fetched chunks" test -n "$kept"
check "the partial file is private to the cache's owner" test "$(stat -c %a "${kept:-/nonexistent}")" = 600

# The blob leaves the bucket: only what the cache kept can still be read.
raw_rm "blobs/$sha"
mount_fs k cache_size=64M
for c in 1 3 5; do right $c "chunk $c kept from the mount before reads right with the blob gone"; done
fails 7 "chunk 7 was never fetched: with the blob gone it cannot be read (the test is sound)"
umount_fs k warnings-ok

# A kill -9 leaves its partial file as it is: the next mount takes it up too.
raw_put "blobs/$sha" "$T/big"
mount_fs k cache_size=64M
right 8 "chunk 8 reads right"
kill -9 "${FS_PID[k]}"
wait "${FS_PID[k]}" 2>/dev/null || true
unset "FS_PID[k]"
fusermount3 -uz "$T/k" 2>/dev/null || true
raw_rm "blobs/$sha"
mount_fs k cache_size=64M
right 8 "chunk 8, fetched by a mount killed with -9, reads right with the blob gone"
right 1 "chunk 1 too"
umount_fs k

# Tampered on disk: that chunk is refused (fetched again when it can be), the rest reads.
kept=$(find "$PART" -type f -name "$sha-*" | head -1)
printf 'not the content' | dd of="$kept" bs=1 seek=$((3 * CH + 5000)) conv=notrunc status=none
mount_fs k cache_size=64M
fails 3 "a kept chunk changed on disk is not served (and the blob is gone, so it cannot be fetched)"
right 5 "the untouched kept chunk 5 still reads right"
umount_fs k warnings-ok
raw_put "blobs/$sha" "$T/big"
mount_fs k cache_size=64M
right 3 "the tampered chunk is fetched again once the blob is back, and reads right"
check "the whole file reads right" cmp -s "$MNT/big" "$T/big"
umount_fs k
check "once whole, the file went into the blob cache: no partial file is left for it" \
	test -z "$(find "$PART" -type f -name "$sha-*")"

# Planted in the partial directory: nothing is followed, nothing foreign is kept.
rm "$T/k.cache/blobs/$sha" # out of the blob cache: read in chunks again
mount_fs k cache_size=64M
right 2 "chunk 2 reads right"
umount_fs k
kept=$(find "$PART" -type f -name "$sha-*" | head -1)
name=${kept##*/}
echo "precious" >"$T/victim"
truncate -s $((10 * CH)) "$T/victim" # the size the name claims, so only the link itself can refuse it
ln -s "$T/victim" "$PART/${name%.*}.999999"
echo junk >"$PART/junk"
mkfifo "$PART/${name%.*}.999998"
mkdir "$PART/adir"
mv "$kept" "$T/kept.aside"
mount_fs k cache_size=64M
check "a symlink named like a partial file is removed at mount, not followed" test ! -L "$PART/${name%.*}.999999"
is "$(head -c 8 "$T/victim")" "precious" "the symlink's target is untouched"
is "$(stat -c %s "$T/victim")" $((10 * CH)) "the symlink's target keeps its size"
check "a FIFO named like a partial file is removed at mount, not opened" test ! -e "$PART/${name%.*}.999998"
check "a file that is not a partial file is removed at mount" test ! -e "$PART/junk"
right 2 "the blob reads right (fetched again)"
umount_fs k
rm -rf "$PART/adir" "$PART/$sha"-*
mv "$T/kept.aside" "$PART/$name"

# Torn: a chunk with a hole in it (a crash in the middle of its write) is not taken for kept.
mount_fs k cache_size=64M
for c in 0 4 6 7 8 9; do right $c "chunk $c reads right"; done
umount_fs k
check "the partial file it took up holds 7 chunks" test "$(($(stat -c %b "$PART/$name") * 512))" -ge $((7 * CH))
fallocate -p -o $((4 * CH + 8192)) -l 65536 "$PART/$name"
raw_rm "blobs/$sha"
mount_fs k cache_size=64M
fails 4 "a kept chunk with a hole torn in it is not served"
right 6 "the whole kept chunk 6 reads right"
umount_fs k warnings-ok

# The last chunks checked from disk complete the file: it moves into the blob cache, checked whole.
raw_put "blobs/$sha" "$T/big"
mount_fs k cache_size=64M
for c in 1 3 4 5; do right $c "chunk $c reads right"; done
umount_fs k
mount_fs k cache_size=64M
right 2 "chunk 2, the last one missing, is fetched"
raw_rm "blobs/$sha"
check "with the blob gone, the whole file reads right from the chunks kept" cmp -s "$MNT/big" "$T/big"
umount_fs k
check "it is in the blob cache now" test -f "$T/k.cache/blobs/$sha"
check "and its partial file is gone" test -z "$(find "$PART" -type f -name "$sha-*")"

# Not private, or with another name: not taken up (the file is written, punched and renamed).
raw_put "blobs/$sha" "$T/big"
rm "$T/k.cache/blobs/$sha"
mount_fs k cache_size=64M
right 1 "chunk 1 reads right"
umount_fs k
kept=$(find "$PART" -type f -name "$sha-*" | head -1)
chmod 644 "$kept"
raw_rm "blobs/$sha"
mount_fs k cache_size=64M
fails 1 "a partial file others may read or write is not used"
umount_fs k warnings-ok
check "and it is removed" test ! -e "$kept"
raw_put "blobs/$sha" "$T/big"
mount_fs k cache_size=64M
right 1 "chunk 1 reads right"
umount_fs k
kept=$(find "$PART" -type f -name "$sha-*" | head -1)
ln "$kept" "$T/hardlink"
before=$(sha256sum <"$T/hardlink")
raw_rm "blobs/$sha"
mount_fs k cache_size=64M
fails 1 "a partial file with a second name is not used"
umount_fs k warnings-ok
is "$(sha256sum <"$T/hardlink")" "$before" "and its other name is untouched"

# Kept chunks make way before the cache's checked blobs: over cache_size, they are dropped at mount.
raw_put "blobs/$sha" "$T/big"
head -c $((10 * CH)) /dev/urandom >"$T/other"
osha=$(sha256sum <"$T/other" | cut -c1-64)
m put other "$T/other"
mount_fs k cache_size=80M
check "another 40 MiB file reads right" cmp -s "$MNT/other" "$T/other"
for c in 0 2 4 6 7 8 9; do right $c "chunk $c reads right"; done
umount_fs k
kept=$(find "$PART" -type f -name "$sha-*" | head -1)
check "the partial file holds 7 chunks" test "$(($(stat -c %b "$kept") * 512))" -ge $((7 * CH))
check "the other file is in the blob cache" test -f "$T/k.cache/blobs/$osha"
mount_fs k cache_size=64M
check "mounted with room for one of them, the 28 MiB kept are dropped" test ! -e "$kept"
check "and the other file stays in the blob cache (40 of 64 MiB)" test -f "$T/k.cache/blobs/$osha"
check "it reads right" cmp -s "$MNT/other" "$T/other"
umount_fs k
done_testing
