#!/usr/bin/env bash
# Lures (red-team findings): planted entries that name a real file's blob
# with another chunk list or another size.  Reading a lure must never
# change what the real file reads: no attacker byte under its name, no
# verdict of "corrupt" that makes it fail.  A chunk list of chunks of
# another size must not be trusted past its end (a heap over-read).
. "$(dirname "$0")/../integration/lib.sh" "$@"
require_fuse
new_db
MB=$((1 << 20))
# The victim whose blob is swapped in the bucket, and a lure whose chunk list describes the swapped bytes.
head -c $((12 * MB)) /dev/urandom >"$T/orig"
m put important "$T/orig"
sha=$(sha256sum <"$T/orig" | cut -c1-64)
{ printf 'EVIL%.0s' $(seq 1 1024); head -c $((12 * MB - 4096)) /dev/zero; } >"$T/evil"
raw_put "blobs/$sha" "$T/evil"
{
	printf 'mps3-chunks 1 4194304 %d\n' $((12 * MB))
	for i in 0 1 2; do dd if="$T/evil" bs=4M skip=$i count=1 status=none | sha256sum | cut -c1-64; done
} >"$T/list"
plant '{"lure1":'"$(file_entry "$sha" $((12 * MB)) '"chunks":"'"$(plant_blob "$T/list")"'"')"'}'
# An intact victim, and lures naming its blob with a list of zeros, and with a size one byte short.
head -c $((9 * MB)) /dev/urandom >"$T/keep"
m put keep "$T/keep"
ksha=$(sha256sum <"$T/keep" | cut -c1-64)
{
	printf 'mps3-chunks 1 4194304 %d\n' $((9 * MB))
	for i in 1 2 3; do printf '%064d\n' 0; done
} >"$T/zeros"
plant '{"lure2":'"$(file_entry "$ksha" $((9 * MB)) '"chunks":"'"$(plant_blob "$T/zeros")"'"')"',"lure3":'"$(file_entry "$ksha" $((9 * MB - 1)))"'}'
# A list of 1 GiB chunks for 9 MiB: one hash, where a reader of 4 MiB ranges expects three.
head -c $((9 * MB)) /dev/urandom >"$T/wide"
wsha=$(plant_blob "$T/wide")
{ printf 'mps3-chunks 1 %d %d\n' $((1 << 30)) $((9 * MB)); sha256sum <"$T/wide" | cut -c1-64; } >"$T/wlist"
plant '{"wide":'"$(file_entry "$wsha" $((9 * MB)) '"chunks":"'"$(plant_blob "$T/wlist")"'"')"'}'

mount_fs a
A=$MNT
watch_all "$A"
wait_for 30 test -f "$A/wide" || fail "the planted entries never showed"
head -c 16 "$A/lure1" >/dev/null 2>&1 || true # one chunk of it, as a thumbnailer would
for l in lure2 lure3; do cat "$A/$l" >/dev/null 2>&1 || true; done
set +e
head -c 16 "$A/important" >"$T/got" 2>/dev/null
cat "$A/important" >"$T/all" 2>"$T/err"
rc=$?
set -e
if cmp -s "$T/got" <(head -c 16 "$T/evil"); then fail "a lure read first puts the attacker's bytes under the real name"; else
	ok "a lure read first does not put the attacker's bytes under the real name"
fi
if [[ $rc -ne 0 ]] && grep -q "Input/output error" "$T/err"; then ok "the real file, swapped in the bucket, fails with EIO"; else
	fail "cat important: rc $rc"
fi
check "and what it gave is a prefix of its true content" cmp -s "$T/all" <(head -c "$(stat -c %s "$T/all")" "$T/orig")
check "an intact file reads back whole after lures with a false list and a false size were read" \
	cmp "$T/keep" "$A/keep"
check "and again (no verdict of corrupt stuck to it)" cmp "$T/keep" "$A/keep"
dd if="$A/wide" of=/dev/null bs=$MB skip=8 count=1 status=none 2>/dev/null || true
check "content whose list has chunks of another size is checked whole, and reads back" cmp "$T/wide" "$A/wide"
check "the daemon is still running" kill -0 "${FS_PID[a]}"
umount_fs a warnings-ok
done_testing
