#!/usr/bin/env bash
# put/get/rm/ls round trips through the mps3 CLI: 0 B, 1 KiB and 100 MiB
# values, keys with characters that S3 listings must escape, and the exit
# statuses of failures.
. "$(dirname "$0")/lib.sh" "$@"

new_db
head -c 0 /dev/null >"$T/v0"
head -c 1024 /dev/urandom >"$T/v1k"
head -c $((100 << 20)) /dev/urandom >"$T/v100m"

for v in v0 v1k v100m; do
	if m put "$v" "$T/$v"; then ok "put $v"; else fail "put $v"; fi
	if m get "$v" >"$T/$v.out" && cmp -s "$T/$v" "$T/$v.out"; then
		ok "get $v returns the same bytes"
	else
		fail "get $v returns the same bytes"
	fi
done
echo "from stdin" | m put piped
is "$(m get piped)" "from stdin" "put from standard input"

keys=('&$@=;  :+,?' '<![CDATA[...]]>' 'foo<Contents>' 'naïve/日本語/ファイル' 'dir with spaces/a b.txt'
	'100%/x+y@z&w' "it's \"quoted\"" 'tab	in name')
for k in "${keys[@]}"; do
	printf 'value of %s' "$k" | m put "$k" -
done
for k in "${keys[@]}"; do
	is "$(m get "$k")" "value of $k" "odd key round trip: $(printf %q "$k")"
done
listed=$(m ls)
for k in "${keys[@]}"; do
	# Control characters are escaped as ls -b does (a name cannot forge lines); --json is exact.
	shown=${k//$'\t'/\\t}
	if grep -qxF -- "$shown" <<<"$listed"; then ok "ls shows $(printf %q "$k")"; else fail "ls shows $(printf %q "$k")"; fi
done
if m ls --json tab | grep -F '"key":"tab\tin name"' >/dev/null; then ok "ls --json gives the name exactly"; else
	fail "ls --json: $(m ls --json tab)"
fi
is "$(m ls | LC_ALL=C sort)" "$(m ls)" "ls is in byte order"
is "$(m ls 'dir with')" "dir with spaces/a b.txt" "ls PREFIX"
line=$(m ls -l v1k)
if [[ $line == "-rw-r--r--"*" 1024 "*" v1k" ]]; then ok "ls -l shows mode and size"; else fail "ls -l: $line"; fi
if m ls --json v100m | grep '"size":104857600' >/dev/null; then ok "ls --json"; else fail "ls --json"; fi

m rm v1k
set +e
m get v1k >/dev/null 2>"$T/err"
rc=$?
set -e
is "$rc" 1 "get of a removed key exits 1"
if grep -q "no such key" "$T/err"; then ok "and says no such key"; else fail "message: $(cat "$T/err")"; fi

# Rejected keys and usage errors.
set +e
m put "a//b" "$T/v0" 2>"$T/err"; rc=$?
set -e
is "$rc" 1 "an invalid key is refused with exit 1"
if grep -q "empty component" "$T/err"; then ok "and the reason is given"; else fail "message: $(cat "$T/err")"; fi
m put file.txt "$T/v0"
set +e
m put file.txt/under "$T/v0" 2>"$T/err"; rc=$?
set -e
is "$rc" 1 "a key below a file is refused"
set +e
"$MPS3" "$URL" frobnicate 2>/dev/null; rc=$?
set -e
is "$rc" 2 "unknown command exits 2"
set +e
"$MPS3" 2>/dev/null; rc=$?
set -e
is "$rc" 2 "missing URL exits 2"
help=$("$MPS3" --help)
if grep -q "usage: mps3" <<<"$help"; then ok "--help"; else fail "--help"; fi
if "$MPS3" --version | grep "^mps3 (mps3fs) " >/dev/null; then ok "--version"; else fail "--version"; fi

# --- progress on a terminal's standard error, and only there -------------------
head -c $((40 << 20)) /dev/urandom >"$T/big40"
tty() { python3 "$SRCDIR/tests/integration/ontty.py" "$@"; }
opts=()
[[ $BACKEND == s3 ]] && opts=(--endpoint "$MPS3_TEST_S3_ENDPOINT")
tty /dev/null "$MPS3" "${opts[@]}" "$URL" put big40 "$T/big40" >"$T/tty.put"
check "put on a terminal: a progress line with the key and the size" grep -q "put big40 .*40.0 MiB" "$T/tty.put"
tty "$T/got40" "$MPS3" "${opts[@]}" "$URL" get big40 >"$T/tty.get"
check "get on a terminal: a progress line too" grep -q "get big40 .*40.0 MiB" "$T/tty.get"
check "and the content is whole" cmp -s "$T/big40" "$T/got40"
tty /dev/null "$MPS3" "${opts[@]}" -q "$URL" put big40q "$T/big40" >"$T/tty.q"
is "$(wc -c <"$T/tty.q")" 0 "put -q on a terminal: no progress"
m put big40n "$T/big40" 2>"$T/notty.err"
is "$(wc -c <"$T/notty.err")" 0 "put with standard error not a terminal: no progress"
m rm big40 big40q big40n

m rm -r "dir with spaces"
if m ls | grep "dir with spaces" >/dev/null; then fail "rm -r removes everything under a prefix"; else ok "rm -r removes everything under a prefix"; fi
if m fsck >/dev/null; then ok "fsck is clean afterwards"; else fail "fsck is clean afterwards"; fi
done_testing
