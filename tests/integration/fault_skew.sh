#!/usr/bin/env bash
# Clients whose clocks are an hour fast and an hour slow commit entries that
# every reader accepts (they learn the store's time from its replies and
# re-commit an entry they cannot prove fresh), and converge with each other.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db
FAST=3600000
SLOW=-3600000
MPS3_CLOCK_SKEW_MS=$FAST m put seed <<<"seed"
for i in 1 2 3 4 5; do
	MPS3_CLOCK_SKEW_MS=$FAST m put "fast/$i" <<<"fast $i"
	MPS3_CLOCK_SKEW_MS=$SLOW m put "slow/$i" <<<"slow $i"
	MPS3_CLOCK_SKEW_MS=$FAST m put shared <<<"fast $i"
	MPS3_CLOCK_SKEW_MS=$SLOW m put shared <<<"slow $i"
done
is "$(m get shared)" "slow 5" "an unskewed reader sees the last write of the contested key"
is "$(MPS3_CLOCK_SKEW_MS=$FAST m get shared)" "slow 5" "so does the fast client"
is "$(MPS3_CLOCK_SKEW_MS=$SLOW m get shared)" "slow 5" "and the slow one"
is "$(m ls | wc -l)" 12 "every key is there"
now=$(date +%s%3N)
far=$(m log --entries --json | /usr/bin/python3 -c '
import json, sys
now = int(sys.argv[1])
print(sum(1 for l in sys.stdin if json.loads(l)["status"] == "ok" and abs(json.loads(l)["t"] - now) > 600000))' "$now")
is "$far" 0 "every accepted entry carries the store's time, not its writer's clock"

# Two mounts, an hour apart either way, writing to each other.
MPS3_CLOCK_SKEW_MS=$FAST mount_fs fast
F=$MNT
MPS3_CLOCK_SKEW_MS=$SLOW mount_fs slow
S=$MNT
echo "from fast" >"$F/ff"
echo "from slow" >"$S/ss"
wait_for 60 test -e "$S/ff" -a -e "$F/ss" || true
is "$(cat "$S/ff" 2>/dev/null)" "from fast" "the slow mount sees the fast mount's file"
is "$(cat "$F/ss" 2>/dev/null)" "from slow" "the fast mount sees the slow mount's file"
"$MPS3" sync "$F"
"$MPS3" sync "$S"
sleep 1
is "$(tree_digest "$F")" "$(tree_digest "$S")" "both mounts show the same tree"
umount_fs fast
umount_fs slow
done_testing
