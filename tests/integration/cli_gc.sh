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
done_testing
