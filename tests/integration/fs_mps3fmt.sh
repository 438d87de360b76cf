#!/usr/bin/env bash
# mps3fs -o format=mps3: a bucket of the MPS3 JavaScript client mounted as a
# directory.  The web app's side is mps3js.py (see cli_mps3fmt.sh): its
# values show as files with the content they stand for, its writes arrive
# as inotify events, and what the mount shows is what the client resolves.
# What is written on the mount is what the app's readers take; modes and
# times survive a remount while the app has not rewritten the value; what
# the layout cannot hold (links, special files, xattrs, > 16 MiB) is refused.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
POLL=200ms
new_db
JS=(python3 "$SRCDIR/tests/integration/mps3js.py" "$URL")
case $BACKEND in
file) BUCKET=${URL##*/} PREFIX= ;;
s3) rest=${URL#s3://} && BUCKET=${rest%%/*} PREFIX=${rest#*/} ;;
esac
M=manifest.json
[[ $BACKEND == file ]] && mkdir -p "${URL#file://}"

# The web app writes: PATH and its JSON value document.
app_write() {
	printf '%s' "$2" >"$T/val"
	"${JS[@]}" write "$M" 0a1 0 "$1" "$T/val" "$BUCKET" "$PREFIX"
}
app_write settings.json $'{\n  "theme": "dark"\n}'
app_write notes/todo.txt '"buy milk\n"'
app_write img.bin '{"$binary":"iVBORw=="}'

mount_fs a format=mps3
A=$MNT
is "$(cat "$A/settings.json")" $'{\n  "theme": "dark"\n}' "an object shows as its document"
is "$(cat "$A/notes/todo.txt")" "buy milk" "a string shows as its text"
is "$(od -An -tx1 "$A/img.bin" | tr -d ' ')" "89504e47" "the binary form shows as its bytes"
is "$(stat -c %s "$A/notes/todo.txt")" 9 "sizes are the content's"
[[ -d $A/notes ]] && ok "directories are implicit" || fail "directories are implicit"
# What the mount shows is what the client resolves.
"${JS[@]}" state "$M" "$BUCKET" "$PREFIX" >"$T/want"
(cd "$A" && find . -type f ! -path './.mps3/*' | sed 's|^\./||' | LC_ALL=C sort | while read -r p; do
	printf '%s\t%s\n' "$p" "$(sha256sum <"$p" | cut -c1-64)"
done) >"$T/got"
is "$(cat "$T/got")" "$(cat "$T/want")" "the tree is the state the client resolves, byte for byte"

# The app's changes arrive as the events a local writer would cause.
watch_into "$T/ev" "$A"
app_write notes/new.txt '"fresh"'
wait_for 30 grep -q "CLOSE_WRITE,CLOSE new.txt" "$T/ev" && ok "a new value arrives as CREATE ... CLOSE_WRITE" ||
	fail "a new value arrives: $(cat "$T/ev")"
is "$(cat "$A/notes/new.txt")" fresh "... with its content"
app_write settings.json '{"theme": "light"}'
wait_for 30 grep -q "CLOSE_WRITE,CLOSE settings.json" "$T/ev" && ok "a changed value arrives as CLOSE_WRITE" ||
	fail "a changed value arrives: $(cat "$T/ev")"
is "$(cat "$A/settings.json")" '{"theme": "light"}' "... with its new content"
m --format=mps3 rm notes/todo.txt
wait_for 30 grep -q "DELETE todo.txt" "$T/ev" && ok "a removal arrives as DELETE" || fail "a removal: $(cat "$T/ev")"
[[ -e $A/notes/todo.txt ]] && fail "... and the file is gone" || ok "... and the file is gone"

# Writing through the mount: what the app's readers take, and what the tree showed.
echo "from the mount" >"$A/mnt.txt"
printf '{"k": [1, 2]}' >"$A/conf.json"
mkdir -p "$A/d/e" "$A/empty"
echo deep >"$A/d/e/f"
chmod 600 "$A/mnt.txt"
touch -d @1700000000 "$A/d/e/f"
echo moved >"$A/from.txt" && mv "$A/from.txt" "$A/to.txt"
"$MPS3" sync "$A"
if "${JS[@]}" check "$M" 12 >"$T/check"; then ok "the mount's entries are what the client's readers take"; else
	fail "the mount's entries: $(cat "$T/check")"
fi
is "$(m --format=mps3 get mnt.txt)" "from the mount" "a file written on the mount is the app's value"
is "$(m --format=mps3 get conf.json)" '{"k": [1, 2]}' "... byte for byte"
is "$(m --format=mps3 get to.txt)" moved "a renamed file is at its new key"
m --format=mps3 get from.txt >/dev/null 2>&1 && fail "... and not at its old one" || ok "... and not at its old one"
"${JS[@]}" state "$M" "$BUCKET" "$PREFIX" | cut -f1 >"$T/keys"
grep -qx d/e/f "$T/keys" && ok "a file in new directories is a key with their path" || fail "d/e/f: $(cat "$T/keys")"
head -c $((17 << 20)) /dev/zero 2>"$T/err" >"$A/big" || true
grep -q "File too large" "$T/err" && ok "a file over 16 MiB is refused with EFBIG" || fail "big: $(cat "$T/err")"
rm -f "$A/big"
ln -s x "$A/sl" 2>"$T/err" && fail "no symbolic links" || { grep -q "not permitted" "$T/err" &&
	ok "no symbolic links (EPERM)" || fail "symlink: $(cat "$T/err")"; }
setfattr -n user.x -v 1 "$A/mnt.txt" 2>"$T/err" && fail "no extended attributes" || {
	grep -q "not supported" "$T/err" && ok "no extended attributes (ENOTSUP)" || fail "xattr: $(cat "$T/err")"; }
ls "$A/.mps3/at/-1m" >/dev/null 2>&1 && fail "no time travel on this layout" || ok "no time travel on this layout"
"$MPS3" sync "$A"
umount_fs a

# A second life: modes and times kept beside the values while their version holds.
mount_fs b format=mps3
B=$MNT
is "$(cat "$B/mnt.txt")" "from the mount" "after a remount the content is there"
is "$(stat -c %a "$B/mnt.txt")" 600 "... with its mode"
is "$(stat -c %Y "$B/d/e/f")" 1700000000 "... and its mtime"
[[ -e $B/empty ]] && fail "an empty directory does not outlive the mount (the layout has none)" ||
	ok "an empty directory does not outlive the mount (the layout has none)"
app_write mnt.txt '"rewritten by the app"'
wait_for 30 grep -qx "rewritten by the app" "$B/mnt.txt" && ok "the app's rewrite arrives" || fail "rewrite: $(cat "$B/mnt.txt")"
is "$(stat -c %a "$B/mnt.txt")" 644 "... and the mode of an older version is not trusted for it"
echo again >>"$B/mnt.txt"
"$MPS3" sync "$B"
sleep 1 # a poll or more: what the bucket now says is shown
is "$(stat -c %a "$B/mnt.txt")" 644 "... nor does it come back with the mount's next write"
umount_fs b warnings-ok

# Two mounts and the app write at once: everyone converges on the state the client resolves.
mount_fs p format=mps3
P=$MNT
mount_fs q format=mps3
Q=$MNT
for i in 1 2 3; do mkdir -p "$P/conv" && echo "p$i" >"$P/conv/p$i"; done &
w1=$!
for i in 1 2 3; do mkdir -p "$Q/conv" && echo "q$i" >"$Q/conv/q$i"; done &
w2=$!
app_write conv/app '"from the app"'
wait "$w1" "$w2" # (not a bare wait: the daemons are children too)
"$MPS3" sync "$P"
"$MPS3" sync "$Q"
for f in p1 p2 p3 q1 q2 q3 app; do
	wait_for 30 test -f "$P/conv/$f" -a -f "$Q/conv/$f" || fail "conv/$f reached both mounts"
done
"${JS[@]}" state "$M" "$BUCKET" "$PREFIX" | grep '^conv/' >"$T/want"
is "$(wc -l <"$T/want")" 7 "every write of both mounts and the app is in the state the client resolves"
for mnt in "$P" "$Q"; do
	(cd "$mnt" && for f in conv/*; do printf '%s\t%s\n' "$f" "$(sha256sum <"$f" | cut -c1-64)"; done) >"$T/got"
	is "$(cat "$T/got")" "$(cat "$T/want")" "mount ${mnt##*/} shows that state"
done
umount_fs p warnings-ok
umount_fs q warnings-ok

# kill -9 before the upload: the journal brings the acknowledged writes to the app at the remount.
mount_fs c format=mps3
pid=${FS_PID[c]}
for i in 1 2 3; do echo "acked $i" >"$MNT/crash$i.txt"; done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
fusermount3 -uz "$MNT" 2>/dev/null || true
unset "FS_PID[c]"
mount_fs c2 format=mps3 "cache_dir=$T/c.cache"
check "mps3 sync after the remount" timeout 120 "$MPS3" sync "$MNT"
for i in 1 2 3; do
	is "$(m --format=mps3 get "crash$i.txt" 2>&1)" "acked $i" "a write acknowledged before kill -9 reaches the app ($i)"
done
umount_fs c2 warnings-ok
done_testing
