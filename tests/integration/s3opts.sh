#!/usr/bin/env bash
# The S3 request options of a mount (storage class, server-side encryption,
# requester pays, part size and parallel parts): each value checked before
# the store is asked anything, the headers each request carries (noted by
# the fault proxy in front of the real S3 server), and a feature the server
# lacks (Swift has no SSE) failing clearly without losing the write.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db

# --- bad values: one line, exit 2, before any request (nobody listens on :9)
pre() { # WANT_MESSAGE OPTIONS
	local rc=0
	mkdir -p "$T/pre"
	timeout 60 "$MPS3FS" -f -o "cache_dir=$T/pre.cache,endpoint=http://127.0.0.1:9,retries=1,$2" \
		"$URL" "$T/pre" 2>"$T/pre.err" || rc=$?
	if [[ $rc == 2 ]] && grep -q -- "$1" "$T/pre.err" && [[ $(wc -l <"$T/pre.err") == 1 ]]; then
		ok "-o $2 refused: $1"
	else
		fail "-o $2 refused: $1 (exit $rc)"
		sed 's/^/# /' "$T/pre.err"
	fi
}
head -c 32 /dev/urandom >"$T/key.bin"
chmod 600 "$T/key.bin"
base64 <"$T/key.bin" >"$T/key.b64"
chmod 600 "$T/key.b64"
head -c 16 /dev/urandom >"$T/short.key"
chmod 600 "$T/short.key"
cp "$T/key.bin" "$T/open.key"
chmod 644 "$T/open.key"
pre "sse must be AES256" "sse=aes"
pre "goes with sse aws:kms" "sse_kms_key_id=k1"
pre "go together" "sse=C"
pre "go together" "sse_c_key_file=$T/key.bin"
pre "need a 256-bit key" "sse=C,sse_c_key_file=$T/short.key"
pre "accessible by group or others" "sse=C,sse_c_key_file=$T/open.key"
pre "storage class" "storage_class=standard-ia"
pre "between 5M and 5G" "part_size=1M"
pre "need 1 to 64" "parallel=100"

start_proxy
proxy faults log=1
hdrs() { cat "$T/proxy.ctl.headers" 2>/dev/null || true; }
# none_of WHAT SELECT BAD: some noted request matches SELECT, and none of those BAD (EREs)
none_of() {
	local sel bad
	sel=$(hdrs | grep -cE "$2" || true)
	bad=$(hdrs | grep -E "$2" | grep -cE "$3" || true)
	if ((sel > 0 && bad == 0)); then ok "$1 ($sel requests)"; else fail "$1 ($bad of $sel requests)"; fi
}

# --- storage class, payer, part size: what each request carries ------------
mount_fs a storage_class=STANDARD,requester_pays,part_size=5M,parallel=2
A=$MNT
echo small >"$A/small"
head -c $((65 << 20)) /dev/urandom >"$T/big"
cp "$T/big" "$A/big"
timeout 300 "$MPS3" sync "$A" >/dev/null
is "$(m get small)" small "storage_class=STANDARD, requester_pays: the write lands"
check "the big file lands whole" cmp -s "$T/big" <(m get big)
umount_fs a
n=$(hdrs | wc -l)
check "every one of the $n requests carried x-amz-request-payer=requester" \
	test "$n" -gt 0 -a "$(hdrs | grep -vc 'x-amz-request-payer=requester')" = 0
check "a PutObject carried the storage class" grep -qE '^PUT /[^ ?]*/blobs/[^ ?]* .*x-amz-storage-class=STANDARD' \
	"$T/proxy.ctl.headers"
check "the multipart upload was created with the storage class" \
	grep -qE '^POST [^ ]*\?uploads.*x-amz-storage-class=STANDARD' "$T/proxy.ctl.headers"
is "$(hdrs | grep -E '^PUT [^ ]*partNumber=' | grep -oE 'partNumber=[0-9]+' | sort -u | wc -l)" 13 \
	"part_size=5M: 65 MiB went as 13 parts"
none_of "parts carry no storage class (S3 refuses it there)" '^PUT [^ ]*partNumber=' storage-class
none_of "reads and listings carry no storage class" '^(GET|HEAD) ' storage-class

# --- SSE-S3 on a server without SSE: refused clearly, the write kept --------
: >"$T/proxy.ctl.headers"
mount_fs b sse=AES256,drain=1s
echo secret >"$MNT/enc"
status_says() { "$MPS3" status "$MNT" 2>&1 | grep "Server-side encryption is not supported" >/dev/null; }
wait_for 120 status_says || true
check "sse=AES256 on Swift: mps3 status names what the server refused" status_says
check "the PutObject asked for SSE-S3" grep -qE '^PUT [^ ]*/blobs/.*x-amz-server-side-encryption=AES256' \
	"$T/proxy.ctl.headers"
none_of "GETs ask for no encryption (SSE-S3 is for writes)" '^GET ' server-side-encryption
rc=0
timeout 120 "$MPS3" umount --timeout 2s "$MNT" 2>"$T/umount.err" || rc=$?
is "$rc" 1 "mps3 umount with a write the server refuses: exit 1"
check "mps3 umount says what stayed, and where" grep -q "1 changed paths were not uploaded; they stay in the journal in $T/b.cache" \
	"$T/umount.err"
check "mps3 umount: the mount is gone anyway" test "$(mountpoint -q "$MNT" && echo mounted)" = ""
wait "${FS_PID[b]}" || true
unset "FS_PID[b]"
mount_fs b
timeout 120 "$MPS3" sync "$MNT" >/dev/null
is "$(m get enc)" secret "mounted again without sse=: the journal's write lands"
echo fine >"$MNT/after"
rc=0
timeout 120 "$MPS3" umount "$MNT" 2>"$T/umount.err" || rc=$?
is "$rc:$(cat "$T/umount.err")" "0:" "mps3 umount: uploads waited for, unmounted, exit 0, nothing to say"
is "$(m get after)" fine "what was written just before mps3 umount is in the bucket"
rc=0
wait "${FS_PID[b]}" || rc=$?
is "$rc" 0 "the daemon exits 0 after mps3 umount"
if [[ $rc != 0 ]]; then
	echo "# the daemon said:"
	sed 's/^/#   /' "$T/b.err" | sed -n 1,60p
fi
unset "FS_PID[b]"

# --- SSE-C: the key and its MD5 with the write ------------------------------
: >"$T/proxy.ctl.headers"
mount_fs c sse=C,sse_c_key_file=$T/key.b64
echo more >"$MNT/c1"
md5=$(openssl dgst -md5 -binary "$T/key.bin" | base64)
key=$(base64 -w0 <"$T/key.bin")
wait_for 120 grep -q "^PUT [^ ]*/blobs/" "$T/proxy.ctl.headers" || true
check "SSE-C: the PutObject carries the algorithm, the key and its MD5" grep -qF \
	"x-amz-server-side-encryption-customer-algorithm=AES256 x-amz-server-side-encryption-customer-key-md5=$md5 x-amz-server-side-encryption-customer-key=$key" \
	"$T/proxy.ctl.headers"
none_of "SSE-C: listings carry no key" '^GET [^ ]*list-type' customer-key
umount_fs c warnings-ok

# --- the same options on the command line -----------------------------------
: >"$T/proxy.ctl.headers"
echo cli >"$T/cv"
mp --storage-class=STANDARD --requester-pays put ck "$T/cv"
is "$(m get ck)" cli "mps3 --storage-class --requester-pays: the put lands"
check "mps3 put: the PutObject carried the storage class and the payer" \
	grep -qE '^PUT [^ ]*/blobs/[^ ?]* x-amz-request-payer=requester x-amz-storage-class=STANDARD' \
	"$T/proxy.ctl.headers"
rc=0
"$MPS3" --sse=C --endpoint http://127.0.0.1:9 "$URL" ls 2>"$T/cli.err" || rc=$?
is "$rc:$(head -n1 "$T/cli.err")" "2:mps3: ls: sse C and an SSE-C key file go together" \
	"mps3 --sse C without a key file: a usage error, before any request"

# --- a bucket in another region than the one configured: found, and used ---
proxy "faults region=$AWS_REGION"
before=$(grep -c '^moved ' "$T/proxy.ctl.requests" 2>/dev/null || true)
echo moved >"$T/rv"
mp --region=eu-west-1 put rk "$T/rv" 2>"$T/region.err"
is "$(m get rk)" moved "--region eu-west-1 for a bucket in $AWS_REGION: the put lands"
check "the client says which region the bucket is in" grep -q "is in region $AWS_REGION, not eu-west-1" "$T/region.err"
is "$(($(grep -c '^moved ' "$T/proxy.ctl.requests") - before))" 1 "one request was refused, the rest went to the right region"
mount_fs d region=eu-west-1
echo there >"$MNT/rf"
timeout 120 "$MPS3" sync "$MNT" >/dev/null
is "$(m get rf)" there "a mount with the wrong region writes to the bucket's"
umount_fs d warnings-ok

done_testing
