#!/usr/bin/env bash
# A bucket writer plants symlinks and paths through them while a mount with
# inotify watchers replays remote changes (as root, through the mount): the
# replay must never write outside the mount.  A canary directory outside the
# mount stays exactly as it was; the mount and the bucket stay consistent.
. "$(dirname "$0")/../integration/lib.sh" "$@"
require_fuse
new_db
CANARY=$T/canary
mkdir -p "$CANARY/sub"
echo original >"$CANARY/keep"
canary_digest() { (cd "$CANARY" && find . -printf '%y %m %s %p\n' | LC_ALL=C sort && cat keep); }
before=$(canary_digest)
echo seed | m put seed
mount_fs a
A=$MNT
watch_all "$A"
printf 'attacker\n' >"$T/evil"
sha=$(plant_blob "$T/evil")
evil_file=$(file_entry "$sha" 9)

# 1. A link to the canary, then a file "under" the link (issue 8, item 1).
plant '{"evil":{"type":"l","target":"'"$CANARY"'"}}'
wait_for 30 test -L "$A/evil" || fail "the planted link never showed"
plant '{"evil/x":'"$evil_file"'}'
wait_for 30 test -f "$A/evil/x" || true
check "a file under a remote link lands inside the mount" test -f "$A/evil/x"
check "and not in the directory the link points to" test ! -e "$CANARY/x"

# 2. A rename through the link onto a name the target directory has.
plant '{"evil/t":'"$evil_file"'}'
wait_for 30 test -f "$A/evil/t" || true
plant '{"evil/t":null,"evil/keep":'"$evil_file"'}'
wait_for 30 test -f "$A/evil/keep" || true
check "a rename through the link stays inside the mount" test -f "$A/evil/keep" -a ! -e "$A/evil/t"

# 3. Links in the middle of deeper paths, absolute and relative, and to "..".
plant '{"l2":{"type":"l","target":"'"$CANARY"'/sub"},"up":{"type":"l","target":"../../.."}}'
wait_for 30 test -L "$A/up" || true
plant '{"l2/deep/y":'"$evil_file"',"up/z":'"$evil_file"',"marker1":'"$evil_file"'}'
wait_for 30 test -f "$A/marker1" || fail "marker1 never showed"
check "nothing made through a link to a subdirectory" test ! -e "$CANARY/sub/deep"
check "nothing made through a link to .." test ! -e "$T/z" -a ! -e "$T/../z"

# 4. A link replacing a directory that has content, then a write under it.
plant '{"d/f":'"$evil_file"'}'
wait_for 30 test -f "$A/d/f" || true
plant '{"d/f":null,"d":{"type":"l","target":"'"$CANARY"'"}}'
plant '{"d/g":'"$evil_file"',"marker2":'"$evil_file"'}'
wait_for 30 test -f "$A/marker2" || fail "marker2 never showed"
check "a directory turned into a link leads nowhere outside" test ! -e "$CANARY/g"

# 5. Link chains and loops: no hang, ELOOP to readers.
plant '{"loop1":{"type":"l","target":"loop2"},"loop2":{"type":"l","target":"loop1"},"marker3":'"$evil_file"'}'
wait_for 30 test -f "$A/marker3" || fail "marker3 never showed"
set +e
timeout 10 cat "$A/loop1" >/dev/null 2>"$T/err"
rc=$?
set -e
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "Too many levels" "$T/err"; then ok "a link loop is ELOOP, not a hang"; else fail "link loop: rc $rc $(cat "$T/err")"; fi
check "ls -l of the root works" timeout 10 ls -l "$A"

is "$(canary_digest)" "$before" "the canary outside the mount is exactly as it was"
check "the daemon is alive" kill -0 "${FS_PID[a]}"
is "$(cat "$A/seed")" "seed" "the rest of the tree is intact"
echo mine >"$A/mine"
check "and takes writes" "$MPS3" sync "$A"
is "$(m get mine)" "mine" "which land"
umount_fs a warnings-ok
is "$(canary_digest)" "$before" "the canary is still as it was after the unmount"
done_testing
