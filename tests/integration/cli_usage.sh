#!/usr/bin/env bash
# The command line of mps3: --help of every command (with and without a
# URL, and as `mps3 help CMD`), global options anywhere, "--" ending
# options, exit 2 and one line plus a hint for every usage error (before
# the store is touched), one meaning per short option, the warning for a
# prefix that holds no database, the forms on a mount point, and the bash
# completion (scripts/completion/mps3.bash) against what --help says.
. "$(dirname "$0")/lib.sh" "$@"

new_db
COMMANDS=(put get rm ls watch log snapshot restore branch checkpoint gc fsck sync status batch help)

# run ARGS...: mps3 with the test's endpoint; sets RC, OUT and ERR (files $T/out, $T/err).
run() {
	local opts=()
	[[ $BACKEND == s3 ]] && opts=(--endpoint "$MPS3_TEST_S3_ENDPOINT")
	set +e
	"$MPS3" "${opts[@]}" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# usage_error CMD ARGS...: exit 2, nothing on stdout, and on stderr one line
# "mps3: ..." then the hint to CMD's --help (CMD "-": to mps3 --help).
usage_error() {
	local cmd=$1 hint
	shift
	if [[ $cmd == - ]]; then hint="Try 'mps3 --help'."; else hint="Try 'mps3 $cmd --help'."; fi
	run "$@"
	if [[ $RC == 2 && -z $OUT && $(wc -l <"$T/err") == 2 && $(head -n1 "$T/err") == "mps3: "* &&
		$(tail -n1 "$T/err") == "$hint" ]]; then
		ok "usage error, exit 2: mps3 $*"
	else
		fail "usage error, exit 2: mps3 $*"
		diag "rc $RC, stdout: $(printf %q "$OUT"), stderr: $(printf %q "$ERR")"
	fi
}

echo one >"$T/one"
m put a "$T/one"

# ---- --help ------------------------------------------------------------------------------
for c in "${COMMANDS[@]}"; do
	run "$URL" "$c" --help
	with_url=$OUT
	if [[ $RC == 0 && -z $ERR && $(head -n1 <<<"$OUT") == "usage: mps3 "*"$c"* ]]; then
		ok "mps3 URL $c --help: its usage on stdout, exit 0"
	else
		fail "mps3 URL $c --help: rc $RC, stdout $(head -n1 <<<"$OUT"), stderr $ERR"
	fi
	run "$c" --help
	is "$RC:$OUT" "0:$with_url" "mps3 $c --help (no URL) prints the same"
	run help "$c"
	is "$RC:$OUT" "0:$with_url" "mps3 help $c prints the same"
done
run "$URL" ls -h
is "$(head -n1 <<<"$OUT")" "usage: mps3 [OPTIONS] URL ls [-l] [--json] [PREFIX]" "-h is --help after a command too"
run help
help=$OUT
if [[ $RC == 0 && $help == "usage: mps3 "* ]] && grep -q -- '--endpoint URL' <<<"$help"; then
	ok "mps3 help: the whole usage with the global options"
else
	fail "mps3 help: rc $RC: $(head -n3 <<<"$help")"
fi
run --help
is "$RC:$OUT" "0:$help" "mps3 --help is mps3 help"
for c in "${COMMANDS[@]}"; do
	if grep -qE "^  $c( |\$)" <<<"$help"; then ok "mps3 help lists $c"; else fail "mps3 help lists $c"; fi
done
run "$URL" put --help
is "$(m ls)" "a" "put --help stores nothing"

# ---- "--" ends options ----------------------------------------------------------------------
echo dash >"$T/dash"
run "$URL" put -- --help "$T/dash"
is "$RC" 0 "put -- --help FILE exits 0"
is "$(m get -- --help)" "dash" "and stores a key named --help"
is "$(m ls -- --h)" "--help" "ls -- --h: an operand, not an option"
run "$URL" ls -- -l
is "$RC:$OUT" "0:" "ls -- -l lists keys starting with -l (none)"

# ---- global options anywhere --------------------------------------------------------------------
# --cache-dir shows where it was read: the state file lands there.
for where in before between after; do
	d=$T/cd-$where
	case $where in
	before) run --cache-dir "$d" "$URL" ls a ;;
	between) run "$URL" --cache-dir "$d" ls a ;;
	after) run "$URL" ls a --cache-dir "$d" ;;
	esac
	if [[ $RC == 0 && $OUT == a ]] && compgen -G "$d/*.state" >/dev/null; then
		ok "--cache-dir $where the command is read"
	else
		fail "--cache-dir $where: rc $RC, out $OUT, err $ERR, $(ls "$d" 2>&1)"
	fi
done
run "$URL" ls --cache-dir="$T/cd-eq"
if compgen -G "$T/cd-eq/*.state" >/dev/null; then ok "--cache-dir=DIR"; else fail "--cache-dir=DIR: $ERR"; fi
MAIN=$URL
new_db fresh
FRESH=$URL
URL=$MAIN
run "$FRESH" put k "$T/one" -v
if [[ $RC == 0 && $ERR == *"no database there yet; this put makes one"* ]]; then
	ok "-v after the command's operands"
else
	fail "-v after the operands: rc $RC, $ERR"
fi
run -q "$URL" get nosuch
is "$RC:$ERR" "1:mps3: get: nosuch: no such key" "-q before the URL; a failure is exit 1 and errors still show"

# ---- usage errors: exit 2, one line and the hint, before the store is opened ----------------------
usage_error ls "$URL" ls --frob
usage_error ls "$URL" ls --json=yes
usage_error put "$URL" put -x k
usage_error get "$URL" get
usage_error get "$URL" get a b
usage_error get "$URL" get --at
usage_error get "$URL" get --at yesterday a
usage_error ls "$URL" ls a b
usage_error checkpoint "$URL" checkpoint now
usage_error log "$URL" log -n
usage_error log "$URL" log -n 0
usage_error log "$URL" log -n many
usage_error log "$URL" log --entries a
usage_error gc "$URL" gc --grace soon
usage_error gc "$URL" gc -n
usage_error rm "$URL" rm
usage_error restore "$URL" restore a
usage_error snapshot "$URL" snapshot
usage_error snapshot "$URL" snapshot frob
usage_error snapshot "$URL" snapshot ls --at -1h
usage_error branch "$URL" branch commit
usage_error branch "$URL" branch diff x --rebase
usage_error sync "$URL" sync
usage_error status "$URL" status "$T"
usage_error put put k "$T/one"
usage_error - "$URL" --poll 1ms watch
usage_error - "$URL" --retries 0 ls
usage_error - --format nope "$URL" ls
usage_error - --validate relative/prog "$URL" put k
usage_error - --json "$URL" ls
usage_error - "$URL" frobnicate
usage_error - "$URL"
usage_error -
usage_error - not-a-url ls
usage_error ls --manifest m.json "$URL" ls
usage_error checkpoint --format mps3 "$URL" checkpoint
usage_error get --format mps3 "$URL" get --at -1h a
run "$URL" gc -n
if grep -q "it is one of log" "$T/err"; then ok "gc -n says whose option -n is"; else fail "gc -n: $ERR"; fi
run "$URL" --re x ls
if [[ $RC == 2 && $ERR == *"(--region, --retries, --requester-pays)"* ]]; then ok "an ambiguous abbreviation names the candidates"; else
	fail "ambiguous: $ERR"
fi
# A store that cannot be opened: usage errors are found before it is tried.
echo not-a-directory >"$T/plain"
BAD=file://$T/plain/db
run "$BAD" ls
is "$RC" 1 "a store that cannot be opened fails with 1"
usage_error get "$BAD" get a b
usage_error restore "$BAD" restore a
usage_error snapshot "$BAD" snapshot rm
usage_error gc "$BAD" gc --history forever

# ---- one meaning per short option ---------------------------------------------------------------
m put b "$T/one"
m put c "$T/one"
run "$URL" log -n 1
is "$(wc -l <<<"$OUT")" 1 "log -n 1: one line"
run "$URL" log -n1 --json
if [[ $RC == 0 && $(wc -l <<<"$OUT") == 1 && $OUT == "{"* ]]; then ok "log -n1 --json"; else fail "log -n1 --json: $OUT"; fi
run "$URL" gc --dry-run
if [[ $RC == 0 && $OUT == "gc (dry run):"* ]]; then ok "gc --dry-run still works"; else fail "gc --dry-run: $OUT $ERR"; fi
run "$URL" ls -l a
if [[ $RC == 0 && $OUT == "-rw-r--r--"*" a" ]]; then ok "ls -l"; else fail "ls -l: rc $RC, $OUT, $ERR"; fi
m put d/x "$T/one"
m put e/x "$T/one"
m put f/x "$T/one"
for r in -r -R --recursive; do
	case $r in -r) k=d ;; -R) k=e ;; --recursive) k=f ;; esac
	run "$URL" rm "$r" "$k"
	if [[ $RC == 0 ]] && ! m ls | grep "^$k/" >/dev/null; then ok "rm $r"; else fail "rm $r: $ERR"; fi
done
run "$URL" ls -lq b
if [[ $RC == 0 && $OUT == *" b" ]]; then ok "bundled short options (-lq)"; else fail "-lq: $OUT $ERR"; fi

# ---- a prefix with no database ------------------------------------------------------------------
TYPO=${URL}-typo
for args in "ls" "get a" "log"; do
	# shellcheck disable=SC2086
	run "$TYPO" $args
	if [[ $ERR == *"no database there"* && $ERR == *"$TYPO"* ]]; then
		ok "$args on a prefix with no database warns"
	else
		fail "$args on a prefix with no database: $ERR"
	fi
done
run "$TYPO" ls
is "$RC:$OUT" "0:" "the warning leaves ls's exit status and output alone"
run "$TYPO" get a
is "$RC" 1 "nor get's (no such key)"
run --format mps3 "$TYPO" ls
if [[ $RC == 0 && -z $OUT && $ERR == *"no MPS3 database there (no manifest.json"* ]]; then
	ok "--format mps3: the same warning, naming the manifest"
else
	fail "--format mps3 on a prefix with no database: rc $RC, $ERR"
fi
run -q "$TYPO" ls
is "$RC:$ERR" "0:" "-q: no warning"
run "$URL" ls
is "$ERR" "" "no warning on a database"
new_db made
run "$URL" put k "$T/one"
is "$RC:$ERR" "0:" "put on a prefix with no database makes one, without a warning"
run "$URL" ls
is "$RC:$OUT:$ERR" "0:k:" "and it is a database from then on"
new_db madejs
echo '{"x": 1}' >"$T/x.json"
run --format mps3 "$URL" put x.json "$T/x.json"
is "$RC:$ERR" "0:" "--format mps3: put makes one without a warning"
run --format mps3 "$URL" ls
is "$RC:$OUT:$ERR" "0:x.json:" "and it is an MPS3 database from then on"
URL=$MAIN

# ---- the forms on a mount point (no URL) -------------------------------------------------------------
mkdir "$T/notmount"
for args in "status $T/notmount" "sync $T/notmount" "batch $T/notmount -- true" "batch $T/notmount true --frob" \
	"restore --at -1h $T/notmount/x"; do
	# shellcheck disable=SC2086
	run $args
	if [[ $RC == 1 && -n $ERR && $ERR != *"Try 'mps3"* ]]; then
		ok "mps3 ${args//$T/T}: parsed, fails as no mount (1)"
	else
		fail "mps3 ${args//$T/T}: rc $RC: $ERR"
	fi
done
usage_error batch batch "$T/notmount"
usage_error sync sync --journal "$T" "$T/notmount"
usage_error restore restore "$T/notmount/x"

# ---- bash completion ---------------------------------------------------------------------------------
# shellcheck disable=SC1091
. "$SRCDIR/scripts/completion/mps3.bash"
# comp WORD...: COMPREPLY for the line, the cursor on the last word, sorted, one a line.
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_mps3
	if ((${#COMPREPLY[@]})); then printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort; fi
}
if complete -p mps3 | grep -- '-F _mps3' >/dev/null; then ok "the completion is registered for mps3"; else
	fail "complete -p mps3: $(complete -p mps3 2>&1)"
fi
is "$(comp mps3 "$URL" l | tr '\n' ' ')" "log ls " "commands after a URL"
is "$(comp mps3 ch | tr '\n' ' ')" "checkpoint " "commands without a URL"
is "$(comp mps3 help sn | tr '\n' ' ')" "snapshot " "help COMMAND"
is "$(comp mps3 "$URL" gc --d | tr '\n' ' ')" "--dry-run " "a command's option"
is "$(comp mps3 "$URL" ls --j | tr '\n' ' ')" "--json " "ls --json"
is "$(comp mps3 "$URL" get --j | tr '\n' ' ')" "" "no --json for get"
is "$(comp mps3 --j | tr '\n' ' ')" "" "no command option before the command"
is "$(comp mps3 --format m | tr '\n' ' ')" "mps3 mps3fs " "the values of --format"
is "$(comp mps3 "$URL" snapshot "" | tr '\n' ' ')" "create ls rm " "snapshot's subcommands"
is "$(comp mps3 "$URL" log -n 5 --ent | tr '\n' ' ')" "--entries " "an option's value is skipped"
is "$(comp mps3 "$URL" ls -- --j | tr '\n' ' ')" "" "nothing after --"
# Every option --help names is completed, and nothing else.
help_opts() { sed -n '/^Options/,/^$/p' | grep '^  -' | cut -c1-23 | grep -oE -- '-{1,2}[A-Za-z][-A-Za-z0-9]*' || true; }
global=$("$MPS3" --help | help_opts)
is "$(comp mps3 - | tr '\n' ' ')" "$(LC_ALL=C sort <<<"$global" | tr '\n' ' ')" "the global options, as mps3 --help"
for c in "${COMMANDS[@]}"; do
	want=$({ "$MPS3" "$c" --help | help_opts; echo "$global"; } | LC_ALL=C sort -u | tr '\n' ' ')
	# rm's -R is an alias --help does not show.
	[[ $c == rm ]] && want=$(tr ' ' '\n' <<<"$want -R" | grep . | LC_ALL=C sort -u | tr '\n' ' ')
	is "$(comp mps3 "$URL" "$c" - | tr '\n' ' ')" "$want" "completion of $c's options matches mps3 $c --help"
done
done_testing
