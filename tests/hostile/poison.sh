#!/usr/bin/env bash
# One bad object never affects another (issue 8, items 3, 4, 5, 7, 8):
# planted entries that crashed readers, poisoned resolution, froze the
# database or hid silently, and names made to forge output lines.  A mount
# with inotify watchers keeps running (under ASan in the sanitizer pass),
# the rest of the tree stays right, writes still land, a fresh mount and
# the CLI agree, and each bad object is reported once.
. "$(dirname "$0")/../integration/lib.sh" "$@"
require_fuse
new_db
echo seed | m put seed
printf 'good\n' >"$T/good"
sha=$(plant_blob "$T/good")
good=$(file_entry "$sha" 5)
mount_fs a
A=$MNT
watch_all "$A"
marker() { # NAME: plant a good file and wait until the mount shows it (it has seen what came before)
	plant '{"'"$1"'":'"$good"'}'
	wait_for 30 test -f "$A/$1" || fail "$1 never showed"
}

# 3. A file, then a key under it: the use-after-free of tree_apply.
plant '{"a":'"$good"'}'
plant '{"a/b":'"$good"'}'
marker m1
check "a file gaining a key under it is shown as a directory" test -d "$A/a" -a -f "$A/a/b"

# 4. One entry nested deeper than any entry is.
deep='{"type":"d"}'
for i in $(seq 1 70); do deep='{"x":'"$deep"'}'; done
plant '{"deep":'"$deep"',"deep-sibling":'"$good"'}'
deep_name=$PLANTED
marker m2
check "an entry nested 70 levels deep is ignored whole" test ! -e "$A/deep" -a ! -e "$A/deep-sibling"

# 5. A checkpoint and an entry dated a day ahead.
future=$(($(now_ms) + 86400000))
plant_checkpoint '{"frozen":'"$good"'}' "$future"
future_cp=$PLANTED
plant '{"ahead":'"$good"'}' "$future"
future_entry=$PLANTED
marker m3
check "an entry from the future is ignored" test ! -e "$A/ahead"

# 7. Names the key parser must not over-read, and other garbage names.
printf '{}' >"$T/junk"
raw_put "log/0000000000000000_" "$T/junk"
raw_put "log/9998203836339475_0123" "$T/junk"
raw_put "checkpoint/0000000000000000_" "$T/junk"
marker m4

# 8. Wrong field types (hidden and reported), names that forge lines, type confusion, odd sizes.
plant '{"badtype":{"type":"f","blob":"zz","size":"x"},"esc\u001b[31mred\nforged line":'"$good"',"confused":{"type":"d","blob":"'"$sha"'","target":"x"},"huge":'"$(file_entry "$sha" 4611686018427387904)"',"notarget":{"type":"l"}}'
marker m5
check "a value with fields of the wrong type is hidden" test ! -e "$A/badtype"
check "a directory entry with a blob is a directory" test -d "$A/confused"
check "a link without a target is hidden" test ! -e "$A/notarget"
is "$(stat -c %s "$A/huge")" 4611686018427387904 "a file claiming 4 EiB shows its size"
set +e
timeout 20 head -c 10 "$A/huge" >/dev/null 2>"$T/err"
rc=$?
set -e
if [[ $rc -ne 0 && $rc -ne 124 ]]; then ok "and reading it fails (EIO), without a hang"; else fail "huge: rc $rc"; fi
m ls >"$T/ls"
if grep -q 'esc\\033\[31mred\\nforged line' "$T/ls" && ! grep -q "^forged line" "$T/ls"; then
	ok "mps3 ls escapes control characters in names"
else
	fail "mps3 ls: $(grep -a esc "$T/ls" | od -c | head -3)"
fi
if m ls --json | grep -i '"key":"esc\\u001b\[31mred\\nforged line"' >/dev/null; then ok "mps3 ls --json keeps the name exact"; else fail "ls --json"; fi
if grep -qa "^forged line" "$T/a.err"; then fail "a log line was forged"; else ok "no log line can be forged"; fi
# The same in the ordinary form a mount holds packed (and builds a fresh mount's tree from, unparsed):
# a mode, uid or link out of what an entry may be is hidden there too, and a directory's size is kept.
plant '{"badmode":{"blob":"'"$sha"'","mode":4096,"size":5,"type":"f"},"baduid":{"type":"d","uid":4294967295},"dirsize":{"size":3,"type":"d"},"packedlink":{"mode":511,"type":"l"}}'
marker m5a
packed_hidden() { # DIR: what a mount shows of them
	check "a packed file with mode 010000 is hidden ($1)" test ! -e "$1/badmode"
	check "a packed directory of uid 2^32-1 is hidden ($1)" test ! -e "$1/baduid"
	check "a packed link without a target is hidden ($1)" test ! -e "$1/packedlink"
	check "a directory entry with a size is a directory ($1)" test -d "$1/dirsize"
}
packed_hidden "$A"
plant '{"lnk":{"type":"l","target":"x\u001b]0;pwned\u0007\nmps3: forged"},"x\u202egnp.exe":'"$good"'}'
marker m5b
m get lnk 2>"$T/get.err" || true
if grep -qa $'\033' "$T/get.err" || grep "^mps3: forged" "$T/get.err" >/dev/null; then fail "mps3 get prints a link target raw"; else
	ok "mps3 get escapes a link target"
fi
if m ls | grep 'x\\342\\200\\256gnp.exe' >/dev/null; then ok "mps3 ls escapes a right-to-left override"; else
	fail "mps3 ls: $(m ls | grep -a gnp | od -c | head -2)"
fi

# A head object too large to be a head, put over each new entry's (as an attacker can after every commit).
for i in 1 2 3; do
	plant '{"underbig'"$i"'":'"$good"'}'
	head -c 5000 /dev/urandom >"$T/bighead"
	raw_put head "$T/bighead"
	wait_for 30 test -f "$A/underbig$i" || fail "an entry under an oversized head never showed"
done
check "entries under oversized heads show" test -f "$A/underbig3"

# Entries dated ever further ahead, just inside the limit (a clock run fast on purpose): commits still land.
(
	for i in $(seq 1 150); do
		plant '{"ahead'"$i"'":{"type":"d"}}' $(($(now_ms) + 2800))
		sleep 0.4
	done
) &
ahead_pid=$!
at_exit "kill $ahead_pid 2>/dev/null; wait $ahead_pid 2>/dev/null"
echo "while ahead" >"$A/whileahead"
check "a commit lands while entries keep coming from a little ahead" timeout 60 "$MPS3" sync "$A"
kill "$ahead_pid" 2>/dev/null || true
wait "$ahead_pid" 2>/dev/null || true
is "$(m get whileahead)" "while ahead" "and is in the bucket"

# Names that differ only in Unicode normalisation are two files.
plant '{"caf\u00e9":'"$good"',"cafe\u0301":'"$good"'}'
marker m6
is "$(ls "$A" | grep -c '^caf')" 2 "NFC and NFD spellings of one name are two files"

# The rest of the tree, writes, a fresh mount and the CLI.
is "$(cat "$A/seed")" "seed" "the rest of the tree is intact"
echo mine >"$A/mine"
check "the mount takes writes" "$MPS3" sync "$A"
is "$(m get mine)" "mine" "which land (no checkpoint from the future froze the database)"
mount_fs b
B=$MNT
check "a fresh mount comes up" test -f "$B/mine" -a -f "$B/m6"
check "and ignores the future checkpoint" test ! -e "$B/frozen" -a -f "$B/seed"
packed_hidden "$B"
is "$(tree_digest "$B")" "$(tree_digest "$A")" "both mounts show the same tree"
set +e
m fsck >"$T/fsck" 2>&1
rc=$?
set -e
if [[ $rc -eq 1 ]] && grep -q "dated later" "$T/fsck" && grep -q "is future" "$T/fsck"; then ok "fsck reports the objects from the future"; else fail "fsck: rc $rc $(tail -3 "$T/fsck")"; fi

# One report per bad object, in the first mount's log.
reported_once "log/$deep_name" "$T/a.err" "the deep entry"
reported_once "log/$future_entry" "$T/a.err" "the entry from the future"
reported_once "log/0000000000000000_:" "$T/a.err" "a name of 16 digits and _"
reported_once "badtype: malformed entry" "$T/a.err" "the entry with wrong field types"
reported_once "badmode: malformed entry" "$T/a.err" "the packed entry with a bad mode"
reported_once "badmode: malformed entry" "$T/b.err" "the packed entry with a bad mode, by a fresh mount"
reported_once "baduid: malformed entry" "$T/b.err" "the packed entry with a bad uid, by a fresh mount"
check "the daemon is alive" kill -0 "${FS_PID[a]}"
umount_fs a warnings-ok
umount_fs b warnings-ok
done_testing
