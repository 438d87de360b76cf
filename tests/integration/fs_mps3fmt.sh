#!/usr/bin/env bash
# mps3fs -o format=mps3: a bucket of the MPS3 JavaScript client mounted as a
# directory.  The web app's side is mps3js.py (see cli_mps3fmt.sh): its
# values show as files with the content they stand for, its writes arrive
# as inotify events, and what the mount shows is what the client resolves.
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

# Read-only for now, and no history.
echo x 2>/dev/null >"$A/w" && fail "writing is refused" || ok "writing is refused (EROFS)"
grep -q "Read-only" <(echo x 2>&1 >"$A/w") && ok "... as a read-only file system" || fail "... as EROFS"
ls "$A/.mps3/at/-1m" >/dev/null 2>&1 && fail "no time travel on this layout" || ok "no time travel on this layout"
umount_fs a warnings-ok
done_testing
