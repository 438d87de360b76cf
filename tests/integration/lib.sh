# tests/integration/lib.sh - sourced by every integration test.
#
# Usage in a test:  . "$(dirname "$0")/lib.sh" "$@"   (first argument: s3 or file)
# Gives: $BACKEND, $T (private temp dir, removed at exit unless a test
# failed and MPS3_TEST_KEEP is set), new_db (sets $URL),
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
	local _c
	for ((_c = ${#CLEANUPS[@]} - 1; _c >= 0; _c--)); do
		eval "${CLEANUPS[$_c]}" || true
	done
	if [[ -n $OWN_S3 ]]; then
		"$SRCDIR/scripts/s3-server" stop "$OWN_S3" >/dev/null 2>&1 || true
	fi
	if [[ -n ${MPS3_TEST_KEEP:-} ]] && ((TAP_FAILED > 0)); then
		echo "# MPS3_TEST_KEEP: kept $T" >&2
	else
		rm -rf -- "$T"
	fi
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
# check DESCRIPTION COMMAND...: ok if the command succeeds.  Its output goes to stderr, out of the TAP stream.
check() {
	local desc=$1
	shift
	if "$@" >&2; then ok "$desc"; else fail "$desc"; fi
}
# is GOT WANT DESCRIPTION
is() {
	if [[ "$1" == "$2" ]]; then
		ok "$3"
	else
		fail "$3"
		diag "got:  $(printf %q "$1" | head -c 400)"
		diag "want: $(printf %q "$2" | head -c 400)"
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

# ---- mounts ------------------------------------------------------------------
MPS3FS=${MPS3FS_BIN:-}

# require_fuse: skip (77) only where the machine truly has no FUSE.
require_fuse() {
	if [[ ! -c /dev/fuse ]] || ! command -v fusermount3 >/dev/null; then
		echo "1..0 # SKIP no /dev/fuse or fusermount3 on this machine"
		exit 77
	fi
	[[ -x $MPS3FS ]] || { echo "MPS3FS_BIN must point at mps3fs" >&2; exit 2; }
}

# mount_fs NAME [OPTION...]: mount $URL at $T/NAME in the foreground (-f),
# its stderr in $T/NAME.err; sets MNT and remembers the PID for umount_fs.
# FS_ARGS: more arguments before -o (e.g. -s).
# The cache is $T/NAME.cache, or the default one with FS_CACHE_DIR= (empty).
declare -A FS_PID=()
mount_fs() {
	local name=$1 mnt=$T/$1 cache=${FS_CACHE_DIR-$T/$1.cache} opts="poll=${POLL:-500ms}"
	if [[ -n $cache ]]; then opts+=",cache_dir=$cache"; fi
	shift
	for o in "$@"; do opts+=",$o"; done
	if [[ $BACKEND == s3 ]]; then
		opts+=",endpoint=${FS_ENDPOINT:-$MPS3_TEST_S3_ENDPOINT}"
	fi
	mkdir -p "$mnt"
	# shellcheck disable=SC2086 # FS_ARGS: more words for the command line (-s)
	"$MPS3FS" -f ${FS_ARGS:-} -o "$opts" "$URL" "$mnt" 2>"$T/$name.err" &
	FS_PID[$name]=$!
	at_exit "umount_quiet $name"
	local i
	for ((i = 0; i < 300; i++)); do
		if mountpoint -q "$mnt"; then
			MNT=$mnt
			return 0
		fi
		if ! kill -0 "${FS_PID[$name]}" 2>/dev/null; then
			echo "# mps3fs $name died at start:" >&2
			sed 's/^/# /' "$T/$name.err" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "# mps3fs $name did not mount within 30 s" >&2
	return 1
}

# umount_fs NAME [warnings-ok]: unmount, wait for the daemon, check it
# exited 0 with no warning or error on stderr (unless told they are
# expected).  Prints TAP lines.
umount_fs() {
	local name=$1 mnt=$T/$1 pid=${FS_PID[$1]:-} rc=0 i quiet_ok=${2:-}
	[[ -n $pid ]] || { fail "umount $name: not mounted by this test"; return; }
	for ((i = 0; i < 50; i++)); do
		fusermount3 -u "$mnt" 2>/dev/null && break
		sleep 0.2 # busy: a process still has a file open there
	done
	wait "$pid" || rc=$?
	unset "FS_PID[$name]"
	is "$rc" 0 "mps3fs $name exits 0 at unmount"
	if [[ $quiet_ok == warnings-ok ]]; then
		if grep -q "ERROR: AddressSanitizer\|runtime error:" "$T/$name.err"; then
			fail "mps3fs $name: no sanitizer report"
			sed 's/^/# /' "$T/$name.err" | sed -n 1,40p
		else
			ok "mps3fs $name: no sanitizer report"
		fi
	elif grep -qiE "warning|error" "$T/$name.err"; then
		fail "mps3fs $name stderr has no warnings"
		sed 's/^/# /' "$T/$name.err"
	else
		ok "mps3fs $name stderr has no warnings"
	fi
}

umount_quiet() {
	local name=$1 pid=${FS_PID[$1]:-} i
	[[ -n $pid ]] || return 0
	fusermount3 -u "$T/$name" 2>/dev/null || fusermount3 -uz "$T/$name" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# A listing of a tree: type, mode, size, content hash and name, sorted.
tree_digest() {
	# NUL-separated, so names with newlines and escapes are listed as they are; content that
	# cannot be read shows as "unreadable" (a planted file claiming a size it does not have).
	(cd "$1" && find . -mindepth 1 \( -name .mps3 -prune \) -o -printf '%y %m %s %p\0' | LC_ALL=C sort -z |
		while IFS= read -r -d '' line; do
			local type=${line%% *} rest=${line#* } mode size path sum
			mode=${rest%% *}
			rest=${rest#* }
			size=${rest%% *}
			path=${rest#* }
			if [[ $type == f ]]; then
				sum=$(timeout 60 sha256sum <"$path" 2>/dev/null | cut -c1-16) || sum=
				printf '%s %s %s %s %q\n' "$type" "$mode" "$size" "${sum:-unreadable}" "$path"
			else
				printf '%s %s %s %q\n' "$type" "$mode" "$size" "$path"
			fi
		done)
}

# ---- fault-injecting proxy (s3 backend) ------------------------------------
# start_proxy: a faultproxy.py in front of the test server; sets PROXY_EP,
# and FS_ENDPOINT so that mount_fs goes through it.  proxy MODE...: set the mode.
start_proxy() {
	ensure_s3
	local up=${MPS3_TEST_S3_ENDPOINT#http://}
	/usr/bin/python3 "$SRCDIR/tests/integration/faultproxy.py" "$up" "$T/proxy.port" "$T/proxy.ctl" \
		2>"$T/proxy.err" &
	PROXY_PID=$!
	at_exit "kill $PROXY_PID 2>/dev/null; wait $PROXY_PID 2>/dev/null"
	wait_for 60 test -s "$T/proxy.port" || { echo "# proxy did not start" >&2; cat "$T/proxy.err" >&2; exit 1; }
	PROXY_EP=http://127.0.0.1:$(cat "$T/proxy.port")
	FS_ENDPOINT=$PROXY_EP
}
# Set the proxy's mode and wait until it is in force (at most 30 s).
proxy() {
	local i
	echo "$*" >"$T/proxy.ctl.tmp" && mv "$T/proxy.ctl.tmp" "$T/proxy.ctl"
	for ((i = 0; i < 300; i++)); do
		[[ "$(cat "$T/proxy.ctl.applied" 2>/dev/null)" == "$*" ]] && return 0
		sleep 0.1
	done
	echo "# the proxy did not take mode: $*" >&2
	return 1
}

# proxy_mark: how many faulted requests the proxy has noted so far;
# proxy_hit MARK ERE: whether one noted after MARK matches ERE, as
# "FAULT METHOD PATH" (a lost reply is noted once the request was done, as
# "lose METHOD PATH STATUS" with the status the server answered).
proxy_mark() {
	local n
	n=$({ wc -l <"$T/proxy.ctl.requests"; } 2>/dev/null) || n=0
	echo "${n:-0}"
}
proxy_hit() {
	tail -n "+$(($1 + 1))" "$T/proxy.ctl.requests" 2>/dev/null | grep -E "$2" >/dev/null # (not -q: under pipefail an early exit would fail tail)
}

# mps3 through the proxy
mp() {
	local opts=()
	while [[ $# -gt 0 && $1 == --* ]]; do
		opts+=("$1")
		shift
	done
	"$MPS3" "${opts[@]}" --endpoint "$PROXY_EP" "$URL" "$@"
}

# raw_put KEY FILE: write an object of the database ($URL) directly into the
# bucket, bypassing the protocol (to plant malformed objects).
raw_put() {
	local key=$1 file=$2
	case $BACKEND in
	s3)
		local rest=${URL#s3://} bucket prefix
		bucket=${rest%%/*}
		prefix=${rest#*/}
		curl -sf -o /dev/null -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
			-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --data-binary @"$file" \
			"http://test%3Atester:testing@${MPS3_TEST_S3_ENDPOINT#http://}/$bucket/$prefix/$key"
		;;
	file)
		# The file store keeps key D/N in ROOT/<D/ escaped>/<N escaped>, and N in ROOT/@/N.
		local root=${URL#file://} dir=${key%/*}/ name=${key##*/}
		[[ $key == */* ]] || dir=@
		dir=${dir//\//%2F}
		mkdir -p "$root/$dir"
		cp "$file" "$root/$dir/$name.tmp" && mv "$root/$dir/$name.tmp" "$root/$dir/$name"
		setfattr -x user.mps3.etag "$root/$dir/$name" 2>/dev/null || true
		;;
	esac
}

# raw_rm KEY: delete the object KEY of the database ($URL) from the bucket directly.
raw_rm() {
	case $BACKEND in
	file)
		local root=${URL#file://} dir=${1%/*}/ name=${1##*/}
		[[ $1 == */* ]] || dir=@
		dir=${dir//\//%2F}
		rm -f "$root/$dir/$name"
		;;
	s3)
		curl -sf -o /dev/null -X DELETE --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
			"http://test%3Atester:testing@${MPS3_TEST_S3_ENDPOINT#http://}/${URL#s3://}/$1"
		;;
	esac
}

# raw_exists KEY: whether the object KEY of the database ($URL) is in the bucket.
raw_exists() {
	case $BACKEND in
	file)
		local root=${URL#file://} dir=${1%/*}/ name=${1##*/}
		[[ $1 == */* ]] || dir=@
		dir=${dir//\//%2F}
		[[ -f $root/$dir/$name ]]
		;;
	s3)
		curl -sf -o /dev/null -I --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
			"http://test%3Atester:testing@${MPS3_TEST_S3_ENDPOINT#http://}/${URL#s3://}/$1"
		;;
	esac
}

# ---- planting objects, as a hostile writer with bucket access would -------------
PLANT_SEQ=0
PLANT_SESSION=feedfacefeedface
# plant FILES_JSON [T_MS]: a log entry of time T_MS (default now) holding the
# patch FILES_JSON, written straight into the bucket; head moves so pollers look.
plant() {
	local files=$1 t=${2:-$(now_ms)} name
	PLANT_SEQ=$((PLANT_SEQ + 1))
	name=$(printf '%016d_%s_%d' $((9999999999999999 - t)) "$PLANT_SESSION" "$PLANT_SEQ")
	printf '{"v":1,"t":%d,"session":"%s","seq":%d,"files":%s}' "$t" "$PLANT_SESSION" "$PLANT_SEQ" "$files" \
		>"$T/plant.json"
	raw_put "log/$name" "$T/plant.json"
	printf '%s' "$name" >"$T/plant.head"
	raw_put head "$T/plant.head"
	PLANTED=$name
}
# plant_checkpoint FILES_JSON T_MS: a checkpoint of time T_MS.
plant_checkpoint() {
	local files=$1 t=$2 name
	name=$(printf '%016d_%s' $((9999999999999999 - t)) "$PLANT_SESSION")
	printf '{"v":1,"t":%d,"session":"%s","files":%s}' "$t" "$PLANT_SESSION" "$files" >"$T/plant.json"
	raw_put "checkpoint/$name" "$T/plant.json"
	PLANTED=$name
}
# plant_blob FILE: FILE as a blob named by its hash; prints the hash.
plant_blob() {
	local sha
	sha=$(sha256sum <"$1" | cut -c1-64)
	raw_put "blobs/$sha" "$1"
	echo "$sha"
}
# file_entry SHA SIZE [MORE_JSON_FIELDS]: the JSON of a file entry.
file_entry() { printf '{"type":"f","blob":"%s","size":%d%s}' "$1" "$2" "${3:+,$3}"; }
# reported_once NEEDLE LOG DESCRIPTION: the daemon reported NEEDLE exactly once.
reported_once() {
	local n
	n=$(grep -cF -- "$1" "$2" || true)
	is "$n" 1 "$3 (reported once)"
}
# watch_all DIR: an inotifywait -m -r on DIR for the rest of the test (events in $T/events).
watch_all() {
	watch_into "$T/events" "$1"
}
# watch_into FILE DIR [inotifywait options...]: the same into FILE, returning once its watches are set.
watch_into() {
	local out=$1 dir=$2
	shift 2
	inotifywait -m -r "$@" "$dir" >"$out" 2>"$out.err" &
	local pid=$!
	at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	wait_for 60 grep -q "Watches established" "$out.err" || echo "# inotifywait on $dir did not start" >&2
}
