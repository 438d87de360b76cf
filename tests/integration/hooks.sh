#!/usr/bin/env bash
# Validation hooks (issue 12): mps3fs -o validate=PROGRAM and
# mps3 --validate PROGRAM.  scripts/hooks/json-valid refuses a *.json
# file that is not JSON: close() fails with EPERM and the old content
# stays, on this mount and for the others; a hook that refuses renames,
# removals, mkdir and chmod of locked/ paths; a hook that never answers is
# killed at validate_timeout and the change refused (fail closed).
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db
JSON=$SRCDIR/scripts/hooks/json-valid
cat >"$T/lock-hook" <<'HOOK'
#!/bin/sh
case $MPS3_PATH in
locked/*)
	if [ "$MPS3_OP" != close ]; then
		echo "$MPS3_OP of $MPS3_PATH: locked" >&2
		exit 1
	fi
	;;
esac
exec "$JSON"
HOOK
sed -i "s|\"\$JSON\"|$JSON|" "$T/lock-hook"
chmod +x "$T/lock-hook"
mount_fs a "validate=$T/lock-hook"
A=$MNT
mount_fs b
B=$MNT
echo '{"v": 1}' >"$A/conf.json"
"$MPS3" sync "$A"
echo '{bad' >"$T/bad"
set +e
cp "$T/bad" "$A/conf.json" 2>"$T/cp.err"
rc=$?
set -e
if ((rc != 0)) && grep -q "Operation not permitted" "$T/cp.err"; then ok "writing invalid JSON to a .json file fails with EPERM"; else
	fail "cp: rc $rc $(cat "$T/cp.err")"
fi
is "$(cat "$A/conf.json")" '{"v": 1}' "the old content stays"
check "the hook's reason is logged" grep -q "conf.json refused by.*not valid JSON" "$T/a.err"
echo '{"v": 2}' >"$A/conf.json"
"$MPS3" sync "$A"
is "$(m get conf.json)" '{"v": 2}' "valid JSON goes through, to the bucket"
wait_for 30 bash -c '[[ $(cat "$0/conf.json") == "{\"v\": 2}" ]]' "$B" || true
is "$(cat "$B/conf.json")" '{"v": 2}' "and to the other mount, which never saw the refused one"
echo plain >"$A/notes.txt"
check "other files are not the JSON hook's business" test "$(cat "$A/notes.txt")" = plain

mkdir "$A/locked"
echo '{}' >"$A/locked/a.json"
for op in "mv $A/locked/a.json $A/locked/b.json" "rm $A/locked/a.json" "mkdir $A/locked/sub" \
	"chmod 600 $A/locked/a.json"; do
	if $op 2>"$T/op.err"; then fail "refused: $op"; else
		if grep -q "Operation not permitted" "$T/op.err"; then ok "refused with EPERM: ${op%% *}"; else
			fail "$op: $(cat "$T/op.err")"
		fi
	fi
done
check "the refused changes left it as it was" test -f "$A/locked/a.json" -a ! -e "$A/locked/b.json" -a \
	"$(stat -c %a "$A/locked/a.json")" = 644
umount_fs a warnings-ok

# A hook that never answers: killed, and the change refused.
printf '#!/bin/sh\nsleep 600\n' >"$T/slow"
chmod +x "$T/slow"
mount_fs s "validate=$T/slow" validate_timeout=1s
set +e
timeout 60 mkdir "$MNT/slowdir" 2>"$T/slow.err"
rc=$?
set -e
if ((rc == 1)) && grep -q "Operation not permitted" "$T/slow.err"; then ok "a hook that never answers times out and fails closed"; else
	fail "mkdir under a slow hook: rc $rc $(cat "$T/slow.err")"
fi
check "and is said to have timed out" grep -q "no answer within 1000 ms" "$T/s.err"
umount_fs s warnings-ok

# The CLI asks the same program before put.
set +e
m --validate="$JSON" put x.json "$T/bad" 2>"$T/put.err"
rc=$?
set -e
is "$rc" 1 "mps3 --validate refuses a put the hook refuses"
if m get x.json >/dev/null 2>&1; then fail "and stores nothing"; else ok "and stores nothing"; fi
umount_fs b
done_testing
