#!/usr/bin/env bash
# A bucket with malformed objects: a garbage log entry, a checkpoint cut
# short, a blob whose content does not match its name.  The mount and the
# CLI keep working, report each object once, and serve nothing wrong.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db
echo good >"$T/good"
m put good "$T/good"
head -c 5000 /dev/urandom >"$T/victim"
m put victim "$T/victim"
m checkpoint >/dev/null
m put after-checkpoint "$T/good"

# 1. Garbage log entry, named like a real one of now.
now=$(date +%s%3N)
name=$(printf '%016d_%s_%d' $((9999999999999999 - now)) 0123456789abcdef 1)
echo '{"v":1,"t":' >"$T/garbage"
raw_put "log/$name" "$T/garbage"
# 2. A newer checkpoint, cut short.
cpname=$(printf '%016d_%s' $((9999999999999999 - now)) 0123456789abcdef)
printf '{"v":1,"t":%d,"session":"0123456789abcdef","files":{"good":{"ty' "$now" >"$T/cut"
raw_put "checkpoint/$cpname" "$T/cut"
# 3. The victim's blob replaced by other bytes of the same size.
sha=$(sha256sum <"$T/victim" | cut -c1-64)
head -c 5000 /dev/urandom >"$T/evil"
raw_put "blobs/$sha" "$T/evil"
m put head-bump "$T/good" # make pollers look

is "$(m get good)" "good" "the CLI still reads good keys"
set +e
m get victim >"$T/out" 2>"$T/err"
rc=$?
set -e
is "$rc" 1 "the CLI refuses the corrupt blob with exit 1"
if grep -q "does not match its hash" "$T/err"; then ok "and says why"; else fail "message: $(cat "$T/err")"; fi
set +e
m fsck --verify >"$T/fsck" 2>&1
rc=$?
set -e
is "$rc" 1 "fsck --verify exits 1"
if grep -q "1 corrupt" "$T/fsck" && grep -q "bad checkpoints" "$T/fsck"; then ok "fsck names the corrupt blob and the bad objects"; else fail "fsck: $(tail -1 "$T/fsck")"; fi

mount_fs a
A=$MNT
is "$(cat "$A/good")" "good" "the mount comes up and reads good files"
set +e
cat "$A/victim" >/dev/null 2>"$T/err"
rc=$?
set -e
if [[ $rc -ne 0 ]] && grep -q "Input/output error" "$T/err"; then ok "reading the corrupt file fails with EIO"; else fail "cat victim: rc $rc"; fi
check "no byte of the corrupt blob is served" test ! -s "$T/out"
echo new >"$A/new"
check "the mount keeps taking writes" "$MPS3" sync "$A"
is "$(m get new)" "new" "and they land"
sleep 2 # a few polls
for obj in "log/$name" "checkpoint/$cpname" "$sha"; do
	n=$(grep -cF -- "$obj" "$T/a.err" || true)
	if [[ $n -le 1 ]]; then ok "reported at most once: ${obj:0:24}..."; else
		fail "${obj:0:24}... reported $n times"
		grep -F -- "$obj" "$T/a.err" | sed 's/^/# /'
	fi
done
umount_quiet a
done_testing
