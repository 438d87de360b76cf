#!/usr/bin/env bash
# mps3 gc (PROTOCOL.md G1): a blob nothing names is deleted once older
# than the grace period; what the state or a retained log entry names
# stays, and so does every object whose name is not one gc makes (issue 9, item 5: it
# used to delete any unreferenced key under blobs/).  --dry-run deletes
# nothing.
. "$(dirname "$0")/lib.sh" "$@"
new_db
echo "first" | m put f
old=$(printf 'first\n' | sha256sum | cut -c1-64)
echo "second" | m put f
new=$(printf 'second\n' | sha256sum | cut -c1-64)
echo "kept" | m put g
printf 'not ours\n' >"$T/foreign"
for name in README "$old.bak" "${old:0:63}" "$(printf '%s' "$old" | tr a-f A-F)" notes/today; do
	raw_put "blobs/$name" "$T/foreign"
done
orphan=$(plant_blob "$T/foreign") # a hash name nothing refers to: garbage
sleep 2 # S3 times objects to the second: now they are older than a grace period of 0
check "gc --dry-run runs" bash -c "$(declare -f m); MPS3=$MPS3 BACKEND=$BACKEND URL=$URL \
MPS3_TEST_S3_ENDPOINT=${MPS3_TEST_S3_ENDPOINT:-} m gc --dry-run --grace 0 >'$T/dry'"
diag "$(head -5 "$T/dry")"
m gc --grace 0 >"$T/gc" 2>&1 || fail "gc: $(cat "$T/gc")"
diag "$(head -5 "$T/gc")"
is "$(m get f)" "second" "the current content of f reads back after gc"
is "$(m get g)" "kept" "and so does g's"
m fsck >"$T/fsck" 2>&1 && ok "fsck is clean after gc" || fail "fsck: $(cat "$T/fsck")"
# f's first content is named by a log entry younger than checkpoint - lag: kept (G1).
check "it keeps content a retained log entry names" raw_exists "blobs/$old"
if raw_exists "blobs/$orphan"; then fail "and a blob nobody ever named"; else ok "and a blob nobody ever named"; fi
check "it keeps the content the state names" raw_exists "blobs/$new"
for name in README "$old.bak" "${old:0:63}" "$(printf '%s' "$old" | tr a-f A-F)" notes/today; do
	check "it never deletes blobs/$(printf %q "$name"), a name it does not make" raw_exists "blobs/$name"
done

# What only a kept checkpoint names stays: the checkpoint is read member by member, its
# ordinary entries packed straight from their text, the others as JSON (a blob and a chunk
# list); and so does what only a branch names.  A new database (lag 6 s, no history kept):
# an entry names them, a checkpoint seconds later holds them, they are removed, and the
# entry falls out of the kept log, so that only the checkpoint names them.
new_db gc2
# The default stale window (a tighter one fails commits when a loaded server's clock is hard to track);
# each sleep below is a lower bound: a slow machine only widens the gaps the test needs.
m2() { m --lag=6s --stale=3s "$@"; }
for n in packed json chunks; do printf 'only %s\n' "$n" >"$T/only-$n"; done
cp_packed=$(plant_blob "$T/only-packed")
cp_json=$(plant_blob "$T/only-json")
cp_chunks=$(plant_blob "$T/only-chunks")
plant '{"cp/packed":{"blob":"'"$cp_packed"'","mode":420,"size":12,"type":"f"},'\
'"cp/json":{"type":"f","blob":"'"$cp_json"'","size":10,"chunks":"'"$cp_chunks"'","xattr":{"user.a":"b"}}}'
named_by=$PLANTED
is "$(m2 ls | grep -c '^cp/')" 2 "the planted paths are in the database"
sleep 7 # more than lag: the cutoff (checkpoint - lag) falls after the planted entry
echo later | m2 put later # a file written later (counted by the fsck below)
sleep 10 # more than lag + stale: it is settled
check "a checkpoint holds them" m2 checkpoint
m2 rm cp/packed cp/json
is "$(m2 ls | grep -c '^cp/' || true)" 0 "and they are removed from it"
m2 branch create side
echo "only branch" | m2 --branch=side put b
branch_blob=$(printf 'only branch\n' | sha256sum | cut -c1-64)
sleep 2
m2 gc --grace 0s --history 0s >"$T/gc3" 2>&1 || fail "gc: $(cat "$T/gc3")"
diag "$(head -5 "$T/gc3")"
if raw_exists "log/$named_by"; then fail "the entry that named them is collected"; else ok "the entry that named them is collected"; fi
check "it keeps a blob only a kept checkpoint names (an ordinary entry)" raw_exists "blobs/$cp_packed"
check "and one named by an entry kept as JSON" raw_exists "blobs/$cp_json"
check "and that entry's chunk list" raw_exists "blobs/$cp_chunks"
check "it keeps a blob only a branch names" raw_exists "blobs/$branch_blob"
is "$(m2 --branch=side get b)" "only branch" "which reads back"

# fsck walks the map record by record: each blob checked once however many paths share it,
# a missing blob, a wrong size and a missing chunk list each reported with a path.
missing=$(printf 'never stored\n' | sha256sum | cut -c1-64)
plant '{"k/one":{"blob":"'"$cp_json"'","size":10,"type":"f"},"k/two":{"blob":"'"$cp_json"'","size":10,"type":"f"},'\
'"k/gone":{"blob":"'"$missing"'","size":13,"type":"f"},"k/size":{"blob":"'"$cp_packed"'","size":99,"type":"f"},'\
'"k/chunks":{"type":"f","blob":"'"$cp_chunks"'","size":12,"chunks":"'"$missing"'"}}'
set +e
m2 fsck >"$T/fsck2" 2>&1
rc=$?
set -e
diag "$(tail -1 "$T/fsck2")"
is "$rc" 1 "fsck finds the problems"
check "a missing blob, with its path" grep -q "k/gone: blob $missing is missing" "$T/fsck2"
check "a wrong size, with its path" grep -q "k/size: blob $cp_packed has 12 bytes, the entry says 99" "$T/fsck2"
check "a missing chunk list, with its path" grep -q "k/chunks: the chunk list $missing of blob $cp_chunks is missing" \
	"$T/fsck2"
check "each blob checked once: 5 blobs for 6 files" grep -q "6 files.*; 5 blobs checked;.*2 missing, 0 corrupt, 1 wrong size" "$T/fsck2"
done_testing
