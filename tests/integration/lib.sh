# tests/integration/lib.sh - sourced by every integration test.
#
# Usage in a test:  . "$(dirname "$0")/lib.sh" "$@"   (first argument: s3 or file)
# Gives: $BACKEND, $T (private temp dir, removed at exit), new_db (sets $URL),
# m (runs the mps3 CLI on $URL), TAP helpers ok/fail/is/diag, and a real S3
# server: the one scripts/test started (MPS3_TEST_S3_* in the environment)
# or, when run alone, a private one started here and stopped at exit.
set -euo pipefail

BACKEND=${1:?usage: $0 s3|file}
SRCDIR=${MPS3_SRCDIR:?MPS3_SRCDIR must point at the source tree}
MPS3=${MPS3_BIN:?MPS3_BIN must point at the mps3 binary}
T=$(mktemp -d "${TMPDIR:-/tmp}/mps3-it.XXXXXX")
# Each test keeps its CLI state cache to itself.
export XDG_CACHE_HOME=$T/cache
TAP_N=0
TAP_FAILED=0
OWN_S3=
CLEANUPS=()

cleanup() {
	local i
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUPS[$i]}" || true
	done
	if [[ -n $OWN_S3 ]]; then
		"$SRCDIR/scripts/s3-server" stop "$OWN_S3" >/dev/null 2>&1 || true
	fi
	rm -rf -- "$T"
}
trap cleanup EXIT
# Run at exit, last registered first.
at_exit() { CLEANUPS+=("$1"); }

ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $*"
}
fail() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $*"
}
diag() { echo "# $*"; }
# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}
# is GOT WANT DESCRIPTION
is() {
	if [[ "$1" == "$2" ]]; then
		ok "$3"
	else
		fail "$3"
		diag "got:  $(printf %q "$1")"
		diag "want: $(printf %q "$2")"
	fi
}
done_testing() {
	echo "1..$TAP_N"
	[[ $TAP_FAILED -eq 0 ]]
}

ensure_s3() {
	if [[ -z ${MPS3_TEST_S3_ENDPOINT:-} || -z ${MPS3_TEST_S3_DIR:-} ]]; then
		OWN_S3=$T/s3
		diag "no MPS3_TEST_S3_ENDPOINT: starting a private Swift"
		"$SRCDIR/scripts/s3-server" --port auto start "$OWN_S3" >"$T/s3-start.log" 2>&1 ||
			{ cat "$T/s3-start.log"; exit 1; }
		# shellcheck disable=SC1091
		. "$OWN_S3/env"
	fi
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION
}

# new_db [NAME]: a fresh, empty database; sets URL.
new_db() {
	local name=${1:-db}
	case $BACKEND in
	s3)
		ensure_s3
		local bucket
		bucket=it-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
		"$SRCDIR/scripts/s3-server" mb "$MPS3_TEST_S3_DIR" "$bucket" >/dev/null
		URL=s3://$bucket/$name
		;;
	file)
		URL=file://$T/bucket-$name
		;;
	*)
		echo "unknown backend $BACKEND" >&2
		exit 2
		;;
	esac
}

# m [--OPTION...] COMMAND ARGS...: the CLI on $URL (with the test server's
# endpoint for s3); leading --options go before the URL.
m() {
	local opts=()
	while [[ $# -gt 0 && $1 == --* ]]; do
		opts+=("$1")
		shift
	done
	if [[ $BACKEND == s3 ]]; then
		opts+=(--endpoint "$MPS3_TEST_S3_ENDPOINT")
	fi
	"$MPS3" "${opts[@]}" "$URL" "$@"
}

# m_bg OUT ERR [--OPTION...] COMMAND ARGS...: like m, in the background,
# started directly (not in a subshell) so BG_PID is the mps3 process itself
# and it gets the signals sent to it; it is killed at exit.
m_bg() {
	local out=$1 err=$2 opts=()
	shift 2
	while [[ $# -gt 0 && $1 == --* ]]; do
		opts+=("$1")
		shift
	done
	if [[ $BACKEND == s3 ]]; then
		opts+=(--endpoint "$MPS3_TEST_S3_ENDPOINT")
	fi
	"$MPS3" "${opts[@]}" "$URL" "$@" >"$out" 2>"$err" &
	BG_PID=$!
	at_exit "kill $BG_PID 2>/dev/null; wait $BG_PID 2>/dev/null"
}

# wait_for SECONDS COMMAND...: poll until the command succeeds (liveness bound, not a timing assertion).
wait_for() {
	local limit=$1 start=$SECONDS
	shift
	until "$@"; do
		((SECONDS - start < limit)) || return 1
		sleep 0.1
	done
}

now_ms() { date +%s%3N; }
