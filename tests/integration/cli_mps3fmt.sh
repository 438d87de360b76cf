#!/usr/bin/env bash
# mps3 --format mps3 against the MPS3 JavaScript client's layout.  The
# client is not on the npm registry, so its side is mps3js.py, written from
# docs/MPS3-JS-FORMAT.md: fixtures byte for byte (values of every JSON type,
# an old entry outside the 5 s window, a stale one, invalid names, a wrapped
# counter, keys of another bucket and keys that are no paths), its reader
# rule to compare with, and a check that what mps3 writes is what its
# readers take.
. "$(dirname "$0")/lib.sh" "$@"

new_db
JS=(python3 "$SRCDIR/tests/integration/mps3js.py" "$URL")
mj() { m --format=mps3 "$@"; }
case $BACKEND in
file) BUCKET=${URL##*/} PREFIX= ;;
s3) rest=${URL#s3://} && BUCKET=${rest%%/*} PREFIX=${rest#*/} ;;
esac
LEAD=$BUCKET/${PREFIX:+$PREFIX/}
M=manifest.json

# What the client's reader resolves, against what mps3 shows: the same paths, the same bytes.
same_state() {
	local what=$1 p want got
	"${JS[@]}" state "$M" "$BUCKET" "$PREFIX" >"$T/want" || { fail "$what: the reader rule ran"; return; }
	mj ls >"$T/ls" 2>"$T/ls.err" || { fail "$what: ls: $(cat "$T/ls.err")"; return; }
	is "$(cut -f1 "$T/want")" "$(cat "$T/ls")" "$what: ls shows the paths the client resolves"
	while IFS=$'\t' read -r p want; do
		got=$(mj get "$p" | sha256sum | cut -c1-64) || got="get failed"
		is "$got" "$want" "$what: get $p gives the content the client's value stands for"
	done <"$T/want"
}

# ---- fixtures, as the client writes them (2-space pretty JSON) ---------------------------
value() { printf "%s" "$2" >"$T/val" && "${JS[@]}" raw "$1@$3" "$T/val"; }
value obj.json $'{\n  "a": 1,\n  "b": [\n    true,\n    null\n  ]\n}' 00000000-0000-4000-8000-000000000001
value list.json $'[\n  1,\n  "two"\n]' 00000000-0000-4000-8000-000000000002
value text.txt '"line one\nline two é\n"' 00000000-0000-4000-8000-000000000003
value num 42 00000000-0000-4000-8000-000000000004
value yes true 00000000-0000-4000-8000-000000000005
value nothing null 00000000-0000-4000-8000-000000000006
value bin.dat '{"$binary":"/wABAgM="}' 00000000-0000-4000-8000-000000000007
value ghost '"an old update outside the window"' 00000000-0000-4000-8000-000000000008
value w2 '"replayed"' 00000000-0000-4000-8000-000000000009
value w3 '"the newest update"' 00000000-0000-4000-8000-00000000000a
value future '"from a stale entry"' 00000000-0000-4000-8000-00000000000b
ref() { printf '"%s%s":{"version":"00000000-0000-4000-8000-%012x","replication":""}' "$LEAD" "$1" "$2"; }
files="$(ref obj.json 1),$(ref list.json 2),$(ref text.txt 3),$(ref num 4),$(ref yes 5),$(ref nothing 6)"
files="$files,$(ref bin.dat 7),\"other-bucket/x\":{\"version\":\"v\"},$(ref ../evil 1),$(ref a//b 1)"
[[ -n $PREFIX ]] && files="$files,\"$BUCKET/not-the-prefix/x\":{\"version\":\"v\"}"

# An entry more than 5 s older than the newest: its update is not replayed.
printf '{"files":{},"update":{"files":{%s}}}' "$(ref ghost 8)" >"$T/e1"
"${JS[@]}" entry "$M" now 0a1 0 "$T/e1" >/dev/null
sleep 6
t=$(now_ms)
printf '{\n  "files": {%s},\n  "update": {\n    "files": {%s}\n  }\n}' "$files" "$(ref w2 9)" >"$T/e2"
printf '{"files":{%s,%s},"update":{"files":{%s}}}' "$files" "$(ref w2 9)" "$(ref w3 10)" >"$T/e3"
printf '{"files":{%s},"update":{"files":{}}}' "$(ref future 11)" >"$T/stale"
if [[ $BACKEND == file ]]; then
	# Exact times: w2's entry 1 s before the newest, inside the window.
	"${JS[@]}" entry "$M" "$t" 0b2 0 "$T/e2" "$t"
	"${JS[@]}" entry "$M" $((t + 1000)) 0b2 1 "$T/e3" $((t + 1000))
else
	"${JS[@]}" entry "$M" now 0b2 0 "$T/e2" >/dev/null
	"${JS[@]}" entry "$M" now 0b2 1 "$T/e3" >/dev/null
fi
# Named 8 s after it was stored: no reader takes it, though it would be the newest.
"${JS[@]}" entry "$M" $(($(now_ms) + 8000)) 0c3 0 "$T/stale"
# Names the readers refuse: a wrapped counter, and no counter at all.
"${JS[@]}" entry "$M" "$(now_ms)" 0d4 -1 "$T/stale"
printf "{\"files\":{}}" >"$T/junk" && "${JS[@]}" raw "$M@$(now_ms)" "$T/junk"

same_state "fixtures"
grep -qx ghost "$T/ls" && fail "an old entry's update is not replayed" || ok "an old entry's update is not replayed"
grep -qx future "$T/ls" && fail "a stale entry is not the base" || ok "a stale entry is not the base"
if grep -qx w3 "$T/ls"; then ok "the newest entry's own update applies"; else fail "the newest entry's own update applies"; fi
[[ $BACKEND == file ]] && { grep -qx w2 "$T/ls" && ok "an update 1 s before the newest is replayed" ||
	fail "an update 1 s before the newest is replayed"; }
for h in x ../evil a//b not-the-prefix/x; do
	grep -qxF -- "$h" "$T/ls" && fail "key $h is not shown" || ok "key $h (another bucket's, or no path) is not shown"
done
grep -q "not showing ${LEAD}../evil" "$T/ls.err" && ok "a key that is no path is reported" ||
	fail "a key that is no path is reported: $(cat "$T/ls.err")"
is "$(mj get obj.json)" $'{\n  "a": 1,\n  "b": [\n    true,\n    null\n  ]\n}' "an object reads as the document, byte for byte"
is "$(mj get text.txt | od -An -c | tr -s ' ')" "$(printf 'line one\nline two é\n' | od -An -c | tr -s ' ')" \
	"a string reads as its characters"
is "$(mj get bin.dat | od -An -tx1 | tr -d ' ')" "ff00010203" "the binary form reads as its bytes"
is "$(mj get num)" 42 "a number reads as its JSON text"

# ---- what mps3 writes, the client's readers take ----------------------------------------
printf 'plain text\n' | mj put notes/a.txt
printf '{"k": [1, 2]}' | mj put cfg.json
printf '\377\000raw' | mj put raw.bin
printf '{"$binary":"AAAA"}' | mj put looks-binary.json
mj rm num
if "${JS[@]}" check "$M" 12 >"$T/check"; then ok "mps3's entries are what the client's readers take: $(tail -1 "$T/check")"; else
	fail "mps3's entries: $(cat "$T/check")"
fi
same_state "after mps3 wrote"
is "$(mj get cfg.json)" '{"k": [1, 2]}' "a JSON object round-trips byte for byte"
is "$(mj get looks-binary.json)" '{"$binary":"AAAA"}' "a file that looks like the binary form round-trips"
is "$(mj get raw.bin | od -An -tx1 | tr -d ' ')" "ff00726177" "binary content round-trips"
grep -qx num <(mj ls) && fail "rm removes the key" || ok "rm removes the key"

# ---- two mps3 writers and the client converge ----------------------------------------------
for i in 1 2 3; do printf 'A%d' $i | mj put "conc/a$i" & done
for i in 1 2 3; do printf 'B%d' $i | mj put "conc/b$i" & done
printf '"from the web app"' >"$T/js.val"
"${JS[@]}" write "$M" 0e5 0 conc/js "$T/js.val" "$BUCKET" "$PREFIX"
wait
same_state "after concurrent writers"
n=$(grep -c '^conc/' "$T/ls")
is "$n" 7 "every concurrent write is in the state both sides resolve"

# ---- watch sees the client's changes ---------------------------------------------------------
m_bg "$T/watch.out" "$T/watch.err" --format=mps3 --poll=200ms watch
wait_for 20 grep -q watching "$T/watch.err" || fail "watch started"
printf '"live"' >"$T/live.val"
"${JS[@]}" write "$M" 0f6 0 live.txt "$T/live.val" "$BUCKET" "$PREFIX"
if wait_for 30 grep -qx $'put\tlive.txt' "$T/watch.out"; then ok "watch reports the client's write"; else
	fail "watch reports the client's write: $(cat "$T/watch.out" "$T/watch.err")"
fi
mj rm live.txt
if wait_for 30 grep -qx $'rm\tlive.txt' "$T/watch.out"; then ok "watch reports a removal"; else
	fail "watch reports a removal: $(cat "$T/watch.out")"
fi
kill "$BG_PID" 2>/dev/null

# ---- the log, limits and usage -----------------------------------------------------------------
mj log >"$T/log"
grep -q '  base  ' "$T/log" && grep -q '  stale  ' "$T/log" && grep -q '  invalid  ' "$T/log" &&
	ok "log shows the base, stale and invalid entries" || fail "log: $(cat "$T/log")"
head -c $((17 << 20)) /dev/zero | mj put big 2>"$T/err" && fail "a value over 16 MiB is refused" ||
	{ grep -q "more than" "$T/err" && ok "a value over 16 MiB is refused with a clear error" || fail "big: $(cat "$T/err")"; }
status() { "$@" </dev/null >/dev/null 2>"$T/err" && echo 0 || echo $?; }
is "$(status mj put "$M")" 1 "the manifest's own name cannot be written"
grep -q "manifest" "$T/err" && ok "... and the error says why" || fail "put $M: $(cat "$T/err")"
is "$(status mj put "$M@1")" 1 "names under the manifest's log cannot be written"
is "$(status mj checkpoint)" 2 "a command the format has not is a usage error"
is "$(status m --manifest x ls)" 2 "--manifest without --format mps3 is a usage error"
is "$(status m --format=nope ls)" 2 "an unknown format is a usage error"
is "$(status m --format=mps3 --branch b ls)" 2 "an option of the other layout is a usage error"

# ---- hostile objects -------------------------------------------------------------------------
# A version that would reach a terminal names no object: the key is not shown.
printf '{"files":{},"update":{"files":{"%sesc":{"version":"\\u001b[31mRED","replication":""}}}}' "$LEAD" >"$T/esc"
"${JS[@]}" entry "$M" now 0h8 0 "$T/esc" >/dev/null
mj ls >"$T/ls" 2>"$T/err"
grep -qx esc "$T/ls" && fail "a version with control characters is not shown" ||
	ok "a version with control characters is not shown"
LC_ALL=C grep -q $'\e' "$T/err" && fail "... and nothing raw reaches the terminal" || ok "... and nothing raw reaches the terminal"
# A newest entry that cannot be read: the state stays, and a write that would drop it is refused.
printf 'not json' >"$T/junk2"
"${JS[@]}" entry "$M" now 0g7 0 "$T/junk2" >/dev/null
is "$(status mj put after-junk)" 1 "no write over a newest entry that cannot be read"
grep -q "cannot be read" "$T/err" && ok "... saying why" || fail "junk: $(cat "$T/err")"
done_testing
