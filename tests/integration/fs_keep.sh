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
ln -s "$T/victim" "$PART/${name%.*}.999999"
echo junk >"$PART/junk"
mkdir "$PART/adir"
mv "$kept" "$T/kept.aside"
mount_fs k cache_size=64M
check "a symlink named like a partial file is removed at mount, not followed" test ! -L "$PART/${name%.*}.999999"
is "$(cat "$T/victim")" "precious" "the symlink's target is untouched"
check "a file that is not a partial file is removed at mount" test ! -e "$PART/junk"
right 2 "the blob reads right (fetched again)"
umount_fs k
rm -rf "$PART/adir"

# More kept than the room (cache_size, and at least 6 chunks): dropped at mount.
rm -f "$PART/$sha"-*
mv "$T/kept.aside" "$PART/$name"
mount_fs k cache_size=64M
for c in 0 4 6 7 8 9; do right $c "chunk $c reads right"; done
umount_fs k
check "the partial file it took up holds 7 chunks" test "$(($(stat -c %b "$PART/$name") * 512))" -ge $((7 * CH))
mount_fs k cache_size=8M
check "mounted with a cache too small for them, the kept chunks are dropped" test ! -e "$PART/$name"
umount_fs k
done_testing
