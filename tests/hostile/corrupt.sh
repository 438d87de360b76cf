#!/usr/bin/env bash
# Corrupt content is never served (issue 8, item 6): a blob replaced in the
# bucket by other bytes of the same size, with a chunk list (what mps3 put
# and mps3fs write) and without one (an older writer's entry), and a chunk
# list that lies.  Reads fail with EIO; no byte handed to a reader differs
# from the original; each bad blob is reported once.
. "$(dirname "$0")/../integration/lib.sh" "$@"
require_fuse
new_db
MB=$((1 << 20))
head -c $((20 * MB + 4321)) /dev/urandom >"$T/orig"
m put big "$T/orig"
sha=$(sha256sum <"$T/orig" | cut -c1-64)
# The same bytes but chunk 2 (8 MiB on), as a swapped or rotted object would be.
cp "$T/orig" "$T/bad"
printf 'XXXXXXXXXXXXXXXX' | dd of="$T/bad" bs=1 seek=$((8 * MB + 100)) conv=notrunc status=none
raw_put "blobs/$sha" "$T/bad"
# An older writer's entry (no chunk list) naming another copy, also corrupted.
head -c $((20 * MB)) /dev/urandom >"$T/orig2"
sha2=$(sha256sum <"$T/orig2" | cut -c1-64)
head -c $((20 * MB)) /dev/urandom >"$T/bad2"
raw_put "blobs/$sha2" "$T/bad2"
plant '{"legacy":'"$(file_entry "$sha2" $((20 * MB)))"'}'
# An entry whose chunk list lies (the list is a blob of its own, checked by its name).
head -c $((9 * MB)) /dev/urandom >"$T/orig3"
sha3=$(sha256sum <"$T/orig3" | cut -c1-64)
raw_put "blobs/$sha3" "$T/orig3"
printf 'mps3-chunks 1 4194304 %d\n' $((9 * MB)) >"$T/list"
for i in 1 2 3; do printf '%064d\n' 0 >>"$T/list"; done
lsha=$(plant_blob "$T/list")
plant '{"lying":'"$(file_entry "$sha3" $((9 * MB)) '"chunks":"'"$lsha"'"')"'}'

mount_fs a
A=$MNT
watch_all "$A"
wait_for 30 test -f "$A/lying" || fail "the planted entries never showed"
dd if="$A/big" of="$T/first" bs=$MB count=4 status=none || true
check "the first chunk, intact in the store, reads back right" cmp -s "$T/first" <(head -c $((4 * MB)) "$T/orig")
set +e
cat "$A/big" >"$T/out" 2>"$T/err"
rc=$?
set -e
if [[ $rc -ne 0 ]] && grep -q "Input/output error" "$T/err"; then ok "reading through the corrupt chunk fails with EIO"; else fail "cat big: rc $rc"; fi
check "no corrupt byte was handed out: what was read is a prefix of the original" \
	cmp -s "$T/out" <(head -c "$(stat -c %s "$T/out")" "$T/orig")
if (($(stat -c %s "$T/out") <= 8 * MB)); then ok "and it stops before the corrupt chunk"; else fail "read $(stat -c %s "$T/out") bytes"; fi
set +e
dd if="$A/big" of=/dev/null bs=$MB skip=8 count=1 status=none 2>/dev/null
rc=$?
set -e
if [[ $rc -ne 0 ]]; then ok "reading the corrupt chunk again fails too"; else fail "a second read of the corrupt chunk worked"; fi

set +e
cat "$A/legacy" >"$T/out2" 2>"$T/err"
rc=$?
set -e
if [[ $rc -ne 0 ]] && grep -q "Input/output error" "$T/err"; then ok "a corrupt blob without a chunk list fails with EIO"; else fail "cat legacy: rc $rc"; fi
is "$(stat -c %s "$T/out2")" 0 "and not a byte of it is served (checked whole before the first)"
set +e
cat "$A/lying" >"$T/out3" 2>"$T/err"
rc=$?
set -e
if [[ $rc -ne 0 ]] && grep -q "Input/output error" "$T/err"; then ok "content whose chunk list lies fails with EIO"; else fail "cat lying: rc $rc"; fi
is "$(stat -c %s "$T/out3")" 0 "and not a byte of it is served"

# The good parts of the tree still work, and nothing bad reached the cache.
echo fine >"$A/fine"
check "writes still land" "$MPS3" sync "$A"
is "$(cat "$A/fine")" fine "and read back"
if ls "$T/a.cache/blobs" | grep -E "^($sha|$sha2|$sha3)$" >/dev/null; then fail "a corrupt blob entered the cache"; else ok "no corrupt blob entered the cache"; fi
reported_once "blob $sha is corrupt" "$T/a.err" "the blob with a bad chunk"
reported_once "blob $sha2 is corrupt" "$T/a.err" "the blob without a list"
umount_fs a warnings-ok
done_testing
