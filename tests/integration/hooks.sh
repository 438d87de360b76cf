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
# The refused content is dropped when the last writer is gone (FUSE's release comes after close returns).
wait_for 60 bash -c '[[ $(cat "$0") == "{\"v\": 1}" ]]' "$A/conf.json" || true
is "$(cat "$A/conf.json")" '{"v": 1}' "the old content stays"
check "the hook's reason is logged" grep -q "conf.json refused by.*not valid JSON" "$T/a.err"
echo '{"v": 2}' >"$A/conf.json"
"$MPS3" sync "$A"
is "$(m get conf.json)" '{"v": 2}' "valid JSON goes through, to the bucket"
wait_for 30 bash -c '[[ $(cat "$0/conf.json") == "{\"v\": 2}" ]]' "$B" || true
is "$(cat "$B/conf.json")" '{"v": 2}' "and to the other mount, which never saw the refused one"
echo plain >"$A/notes.txt"
check "other files are not the JSON hook's business" test "$(cat "$A/notes.txt")" = plain

# Around the hook (the red team's ways past it): a rename onto a .json name, a truncate, a link.
echo '{bad' >"$A/c.txt"
if mv "$A/c.txt" "$A/c.json" 2>"$T/mv.err"; then fail "a rename of invalid JSON onto a .json name is refused"; else
	check "a rename of invalid JSON onto a .json name is refused" grep -q "Operation not permitted" "$T/mv.err"
fi
check "and leaves the file where it was" test -f "$A/c.txt" -a ! -e "$A/c.json"
echo '{"v": 3}' >"$A/tmp.sed"
check "a rename of valid JSON onto a .json name goes through (sed -i, editors)" mv "$A/tmp.sed" "$A/conf.json"
is "$(cat "$A/conf.json")" '{"v": 3}' "with its content"
if truncate -s 3 "$A/conf.json" 2>"$T/tr.err"; then fail "a truncate that makes a .json file invalid is refused"; else
	ok "a truncate that makes a .json file invalid is refused"
fi
wait_for 60 bash -c '[[ $(cat "$0") == "{\"v\": 3}" ]]' "$A/conf.json" || true
is "$(cat "$A/conf.json")" '{"v": 3}' "and the content stays"
if ln -s /etc/passwd "$A/l.json" 2>/dev/null; then fail "a link named .json is refused"; else ok "a link named .json is refused"; fi
"$MPS3" sync "$A"
is "$(m get conf.json)" '{"v": 3}' "the bucket has only what the hook accepted"

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

# What the hook gets of the daemon's environment: no credentials.
printf '#!/bin/sh\nenv >"%s/hook.env"\nexit 0\n' "$T" >"$T/env-hook"
chmod +x "$T/env-hook"
MY_API_TOKEN=sekrit-token mount_fs e "validate=$T/env-hook"
echo x >"$MNT/probe"
check "the hook ran" test -s "$T/hook.env"
check "it gets PATH and the change" grep -q "^PATH=" "$T/hook.env"
check "and the change" grep -q "^MPS3_OP=close" "$T/hook.env"
if grep -qE "sekrit|^AWS_" "$T/hook.env"; then fail "and nothing else of the daemon's environment (credentials)"; else
	ok "and nothing else of the daemon's environment (credentials)"
fi
umount_fs e

# Content written through another descriptor while the hook looks at the first one's: looked at again.
# The hook accepts, says so (a file), and waits for the other write before it answers.
cat >"$T/slow-json" <<HOOK
#!/bin/sh
$JSON || exit 1
[ "\$MPS3_OP" = close ] || exit 0
touch "$T/checked"
i=0
while [ ! -e "$T/written" ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
exit 0
HOOK
chmod +x "$T/slow-json"
mount_fs r "validate=$T/slow-json"
python3 - "$MNT/race.json" "$T" >"$T/race.out" 2>&1 <<'PY'
import os, sys, threading, time
p, t = sys.argv[1], sys.argv[2]
fd2 = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
fd1 = os.open(p, os.O_WRONLY)
os.write(fd1, b'{"ok": 1}')
def meanwhile():
    while not os.path.exists(t + "/checked"):
        time.sleep(0.02)
    os.pwrite(fd2, b'NOT JSON AT ALL', 0)
    open(t + "/written", "w").close()
w = threading.Thread(target=meanwhile)
w.start()
for fd in (fd1, fd2):
    try:
        os.close(fd)
        print("closed")
    except OSError as e:
        print("refused", e.errno)
w.join()
PY
"$MPS3" sync "$MNT" || true
got=$(m get race.json 2>/dev/null || true)
if [[ $got == *NOT\ JSON* ]]; then fail "content written while the hook ran never lands unchecked (got: $got)"; else
	ok "content written while the hook ran never lands unchecked"
fi
check "the writer of it was told" grep -q "refused" "$T/race.out"
umount_fs r warnings-ok

# The CLI asks the same program before put.
set +e
m --validate="$JSON" put x.json "$T/bad" 2>"$T/put.err"
rc=$?
set -e
is "$rc" 1 "mps3 --validate refuses a put the hook refuses"
if m get x.json >/dev/null 2>&1; then fail "and stores nothing"; else ok "and stores nothing"; fi
umount_fs b
done_testing
