#!/usr/bin/env bash
# Chaos convergence: two mounts and a CLI client change the database at
# random while the proxy in front of the store flips between online and
# offline every 100 ms.  Afterwards, once everything is synced, both mounts
# and a fresh third mount show byte-identical trees; each writer's own
# directory equals what it was told had succeeded; every writer's last write
# to a shared key is in the log, in the order it made its writes; the
# shared keys show the last write in log order.
#
# CI runs 30 s; the full-length run is:
#   MPS3_CHAOS_SECONDS=180 scripts/test -- fault_chaos-s3
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
SECONDS_CHAOS=${MPS3_CHAOS_SECONDS:-30}
POLL=200ms
new_db
start_proxy
mount_fs a retries=2
A=$MNT
mount_fs b retries=2
B=$MNT
/usr/bin/python3 "$SRCDIR/tests/integration/chaos.py" run "$A" "$B" "$T/proxy.ctl" "$SECONDS_CHAOS" "$T/chaos.json" \
	-- "$MPS3" --retries=8 --endpoint "$PROXY_EP" "$URL" | tee "$T/chaos.out"
proxy online
check "mount A syncs after the chaos" timeout 300 "$MPS3" sync "$A"
check "mount B syncs after the chaos" timeout 300 "$MPS3" sync "$B"
# Let each mount poll the other's last changes.
same=0
for ((i = 0; i < 120; i++)); do
	if [[ "$(tree_digest "$A")" == "$(tree_digest "$B")" ]]; then
		same=1
		break
	fi
	sleep 0.5
done
is "$same" 1 "mounts A and B show byte-identical trees"
if [[ $same != 1 ]]; then
	diff <(tree_digest "$A") <(tree_digest "$B") | sed -n 1,20p | sed 's/^/# /'
	grep -h "cannot read\|corrupt" "$T/a.err" "$T/b.err" | tail -5 | sed 's/^/# /'
fi
if m fsck >"$T/fsck" 2>&1; then ok "fsck: every referenced blob is in the bucket"; else
	fail "fsck: every referenced blob is in the bucket"
	sed 's/^/# /' "$T/fsck" | sed -n 1,20p
fi
FS_ENDPOINT=
mount_fs c
C=$MNT
is "$(tree_digest "$C")" "$(tree_digest "$A")" "a fresh third mount shows the same tree"
m log --entries --json >"$T/log.jsonl"
if ! /usr/bin/python3 "$SRCDIR/tests/integration/chaos.py" check "$C" "$T/chaos.json" "$T/log.jsonl" >"$T/check.out" \
	2>"$T/check.err"; then
	fail "the model check runs: $(tail -3 "$T/check.err" | tr '\n' ' ')"
fi
while read -r line; do
	case $line in
	"ok "*) ok "${line#ok * - }" ;;
	"not ok "*) fail "${line#not ok * - }" ;;
	esac
done <"$T/check.out"
umount_quiet c
umount_quiet a
umount_quiet b
done_testing
