#!/usr/bin/env bash
# mps3fs used with ordinary shell tools on a real mount, checked through the
# mount and directly in the bucket (mps3 CLI), then again after a remount
# and from a second mount of the same bucket.
. "$(dirname "$0")/lib.sh" "$@"
require_fuse
new_db

# --- where it may mount: checked before the store is asked anything --------
# (an endpoint nobody listens on: a check that came too late would fail there instead)
pre() { # WANT_EXIT WANT_MESSAGE MOUNTPOINT [OPTIONS]
	local rc=0
	timeout 60 "$MPS3FS" -f -o "cache_dir=$T/pre.cache,endpoint=http://127.0.0.1:9,retries=1${4:+,$4}" \
		"$URL" "$3" 2>"$T/pre.err" || rc=$?
	if [[ $rc == "$1" ]] && grep -q -- "$2" "$T/pre.err"; then ok "mps3fs on $3 ${4:+-o $4 }refused: $2"; else
		fail "mps3fs on $3 ${4:+-o $4 }refused: $2 (exit $rc)"
		sed 's/^/# /' "$T/pre.err"
	fi
}
touch "$T/plain"
pre 1 "is not a directory" "$T/plain"
mkdir -p "$T/full"
touch "$T/full/x"
pre 1 "is not empty (-o nonempty" "$T/full"
pre 1 "is a mount point already" /proc
mkdir -p "$T/empty"
pre 2 "unknown option.*cache_sise" "$T/empty" cache_sise=2G

mount_fs a
A=$MNT

# --- files: write, read, append, truncate, random writes -------------------
echo hello >"$A/f"
is "$(cat "$A/f")" "hello" "echo > f; cat f"
echo world >>"$A/f"
is "$(cat "$A/f")" $'hello\nworld' ">> appends"
truncate -s 3 "$A/f"
is "$(cat "$A/f")" "hel" "truncate shortens"
truncate -s 10 "$A/f"
is "$(stat -c %s "$A/f")" 10 "truncate extends (sparse)"
is "$(od -An -tx1 -j3 -N7 "$A/f" | tr -d ' ')" "00000000000000" "the extension reads as zeros"
head -c 100000 /dev/urandom >"$T/rand"
cp "$T/rand" "$A/rand"
printf 'XYZ' | dd of="$T/rand" bs=1 seek=4096 conv=notrunc status=none
printf 'XYZ' | dd of="$A/rand" bs=1 seek=4096 conv=notrunc status=none
printf 'END' | dd of="$T/rand" bs=1 seek=150000 conv=notrunc status=none
printf 'END' | dd of="$A/rand" bs=1 seek=150000 conv=notrunc status=none
check "dd random writes at offsets, past the end too" cmp -s "$T/rand" "$A/rand"
line=$(ls -l "$A/f")
if [[ $line == "-rw-r--r-- 1 "*" 10 "* ]]; then ok "ls -l shows mode and size"; else fail "ls -l: $line"; fi

# --- directories -----------------------------------------------------------
mkdir -p "$A/d1/d2/d3"
echo x >"$A/d1/d2/d3/x"
check "mkdir -p" test -d "$A/d1/d2/d3"
set +e
rmdir "$A/d1" 2>"$T/err"
rc=$?
set -e
if [[ $rc -ne 0 ]] && grep -q "Directory not empty" "$T/err"; then ok "rmdir of a non-empty directory: ENOTEMPTY"; else fail "rmdir: rc $rc $(cat "$T/err")"; fi
rm -r "$A/d1"
check "rm -r" test ! -e "$A/d1"
mkdir "$A/empty" && rmdir "$A/empty"
check "rmdir of an empty directory" test ! -e "$A/empty"

# --- symlinks and hard links ------------------------------------------------
ln -s f "$A/lnk"
is "$(readlink "$A/lnk")" "f" "ln -s + readlink"
check "reading through the symlink" cmp -s "$A/lnk" "$A/f"
set +e
ln "$A/f" "$A/hard" 2>"$T/err"
rc=$?
set -e
if [[ $rc -ne 0 ]] && grep -q "Operation not permitted" "$T/err"; then ok "hard link: EPERM, no silent copy"; else fail "ln: rc $rc $(cat "$T/err")"; fi

# --- odd names ---------------------------------------------------------------
long=$(printf 'n%.0s' {1..255})
names=("with space" "naïve ünïcødé 日本" "100%" "a+b" "at@sign" "amp&and" "$long")
for n in "${names[@]}"; do
	printf 'content of %s' "$n" >"$A/$n"
done
for n in "${names[@]}"; do
	is "$(cat "$A/$n")" "content of $n" "name $(printf %q "${n:0:20}")"
done
set +e
touch "$A/${long}x" 2>/dev/null
rc=$?
set -e
if [[ $rc -ne 0 ]]; then ok "a 256-byte name is refused"; else fail "a 256-byte name was accepted"; fi

# --- metadata persisted -------------------------------------------------------
chmod 640 "$A/f"
touch -d '2021-02-03 04:05:06 UTC' "$A/f"
setfattr -n user.color -v blue "$A/f"
setfattr -n user.bin -v 0x00ff10 "$A/f"
is "$(getfattr --absolute-names --only-values -n user.color "$A/f")" "blue" "setfattr/getfattr"

# --- rename: a file, and a directory of 1000 files as one log entry --------------
mv "$A/f" "$A/g"
check "mv of a file" test -f "$A/g" -a ! -e "$A/f"
mkdir "$A/many"
for i in $(seq 1 1000); do echo "$i" >"$A/many/$i.txt"; done
check "fsync the directory's files to the bucket" sync -f "$A/many/1.txt"
wait_for 60 bash -c "[[ \$(getfattr --absolute-names --only-values -n user.mps3.state '$A/many/1000.txt') == committed ]]"
before=$(m log --entries | wc -l)
mv "$A/many" "$A/moved"
wait_for 60 bash -c "[[ \$(getfattr --absolute-names --only-values -n user.mps3.state '$A/moved/500.txt') == committed ]]"
sleep 0.5
after=$(m log --entries | wc -l)
is "$((after - before))" 1 "mv of a directory of 1000 files is one log entry"
entry=$(m log --entries --json -n 1)
is "$(python3 -c 'import json,sys; f=json.loads(sys.stdin.read())["files"]; print(sum(1 for v in f.values() if v is None), sum(1 for v in f.values() if v))' <<<"$entry")" "1001 1001" \
	"and that entry removes 1000 files (and the dir) and adds them under the new name"
is "$(cat "$A/moved/777.txt")" 777 "moved content reads back"

# --- cp -r of a tree of 1000 small files -------------------------------------------
mkdir -p "$T/src"
for i in $(seq 1 10); do
	mkdir -p "$T/src/dir$i"
	for j in $(seq 1 100); do echo "file $i/$j" >"$T/src/dir$i/f$j"; done
done
cp -r "$T/src" "$A/copy"
check "cp -r of 1000 files: identical tree" diff -r "$T/src" "$A/copy"

# --- the mount agrees with the bucket (mps3 CLI) ----------------------------------
wait_for 60 bash -c "[[ \$(getfattr --absolute-names --only-values -n user.mps3.state '$A/copy/dir10/f100') == committed ]]"
sync -f "$A/g"
m get g >"$T/g.cli"
check "mps3 get shows what the mount shows" cmp -s "$T/g.cli" "$A/g"
cli=$(m ls | grep -v '/$' | LC_ALL=C sort)
fsl=$(cd "$A" && find . -mindepth 1 \( -type f -o -type l \) -printf '%P\n' | LC_ALL=C sort)
is "$cli" "$fsl" "mps3 ls lists exactly the mount's files and links"

# --- a second mount shows the same tree ----------------------------------------------
mount_fs b
B=$MNT
is "$(tree_digest "$B")" "$(tree_digest "$A")" "a second mount shows the same tree"
echo "from b" >"$B/from-b"
wait_for 60 test -e "$A/from-b" || true
is "$(cat "$A/from-b" 2>/dev/null)" "from b" "a file made on the second mount appears on the first after a poll"

# --- remount: metadata survived ---------------------------------------------------------
umount_fs a
umount_fs b
mount_fs a2
A=$MNT
is "$(stat -c '%a %s' "$A/g")" "640 10" "chmod and size persisted across a remount"
is "$(TZ=UTC stat -c '%y' "$A/g")" "2021-02-03 04:05:06.000000000 +0000" "touch -d persisted"
is "$(getfattr --absolute-names --only-values -n user.color "$A/g")" "blue" "user xattr persisted"
is "$(getfattr --absolute-names -e hex -n user.bin "$A/g" | grep '^user.bin=')" "user.bin=0x00ff10" "binary xattr persisted"
check "random-write file intact after a remount" cmp -s "$T/rand" "$A/rand"
check "the 1000-file copy intact after a remount" diff -r "$T/src" "$A/copy"
is "$(readlink "$A/lnk")" "f" "symlink persisted"
check "status file" grep -q "^state: online" "$A/.mps3/status"
"$MPS3" status --json "$A" >"$T/status.json"
is "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["state"], d["url"] == sys.argv[2],
	d["pending_paths"], type(d["cache"]["used_bytes"]).__name__, d["last_poll"] is not None)' "$T/status.json" "$URL")" \
	"online True 0 int True" "mps3 status --json: one JSON object with the mount's state"
if ls -a "$A" | grep -x ".mps3" >/dev/null; then fail ".mps3 is hidden from ls"; else ok ".mps3 is hidden from ls"; fi
umount_fs a2

# --- uid=, gid=, umask= for every file shown (as s3fs has them); default_*= for those that record none
mount_fs own uid=4242,gid=4343,umask=027,trust_owners
echo owned >"$MNT/owned"
chmod 666 "$MNT/owned"
mkdir -p "$MNT/odir"
is "$(stat -c '%u:%g %a' "$MNT/owned")" "4242:4343 640" "uid=, gid=, umask=: the owner and the masked mode of every file"
is "$(stat -c '%a' "$MNT/odir")" 750 "umask= masks directories too"
umount_fs own
check "the bucket keeps the mode that was set (umask= is only what is shown)" \
	test "$(m ls -l owned | cut -c1-10)" = "-rw-rw-rw-"
m put norecord - <<<plain
mount_fs dflt default_umask=077
is "$(stat -c '%a' "$MNT/norecord"):$(stat -c '%a' "$MNT/owned")" "600:666" \
	"default_umask=: the mode of a file that records none; a recorded one unchanged"
umount_fs dflt

# --- a small read of a big file downloads a chunk, not the file ---------------------
head -c $((48 << 20)) /dev/urandom >"$T/big"
m put big "$T/big"
mount_fs c
head -c 4096 "$MNT/big" >"$T/big.head"
check "the first 4 KiB of a 48 MiB file read through a fresh mount are right" cmp -s "$T/big.head" <(head -c 4096 "$T/big")
if [[ $BACKEND == s3 ]]; then
	# Bytes the store sent for the blob, from Swift's access log (field 13).
	sha=$(sha256sum <"$T/big" | cut -c1-64)
	sleep 1 # the proxy writes its log line after the response
	got=$(awk -v s="$sha" '$1 == "proxy-access:" && $18 == "-" && $5 == "GET" && index($6, "/blobs/" s) { n += $13 }
		END { print int(n / 1024) }' "$MPS3_TEST_S3_PROXY_LOG")
	if ((got > 0 && got <= 8192)); then ok "reading 4 KiB fetched ${got} KiB of 49152 KiB"; else
		fail "reading 4 KiB fetched ${got} KiB of 49152 KiB"; fi
fi
[[ $BACKEND == s3 ]] && log0=$(wc -l <"$MPS3_TEST_S3_PROXY_LOG")
check "a sequential read of the whole file is right" cmp -s "$T/big" "$MNT/big"
if [[ $BACKEND == s3 ]]; then
	# Each byte fetched at most once (none again after the download completed), in ranged GETs
	# of several chunks each, and the chunk list once (not once per read(2): that was 0.15x curl).
	sleep 1
	bucket=${URL#s3://}
	bucket=${bucket%%/*}
	tail -n +$((log0 + 1)) "$MPS3_TEST_S3_PROXY_LOG" >"$T/read.log"
	lists=$(awk -v b="/$bucket/" '$1 == "proxy-access:" && $18 == "-" && $5 == "GET" && index($6, b) && index($6, "/blobs/")' \
		"$T/read.log" | grep -vc "/blobs/$sha" || true)
	read -r gets kib < <(awk -v s="$sha" '$1 == "proxy-access:" && $18 == "-" && $5 == "GET" && index($6, "/blobs/" s) {
		c++; n += $13 } END { print c + 0, int(n / 1024) }' "$T/read.log")
	check "reading it whole cost $gets GETs ($kib KiB) of its 12 chunks (49152 KiB) and $lists of other blobs" \
		test "$gets" -ge 1 -a "$gets" -lt 12 -a "$kib" -le 49152 -a "$lists" -le 1
fi
umount_fs c

# --- a reader that pauses while its download completes reads the rest from the cache ----
sha=$(sha256sum <"$T/big" | cut -c1-64)
mount_fs d
[[ $BACKEND == s3 ]] && log0=$(wc -l <"$MPS3_TEST_S3_PROXY_LOG")
exec {bigfd}<"$MNT/big"
dd bs=1M count=8 status=none <&$bigfd >"$T/big.1"
# Read-ahead has the remaining 40 MiB coming: wait until the verified blob is in the cache.
for ((i = 0; i < 600; i++)); do
	[[ -e $T/d.cache/blobs/$sha ]] && break
	sleep 0.1
done
check "the download finished while the reader paused" test -e "$T/d.cache/blobs/$sha"
cat <&$bigfd >"$T/big.2"
exec {bigfd}<&-
check "what the paused reader read is the file" cmp -s "$T/big" <(cat "$T/big.1" "$T/big.2")
if [[ $BACKEND == s3 ]]; then
	sleep 1
	kib=$(tail -n +$((log0 + 1)) "$MPS3_TEST_S3_PROXY_LOG" | awk -v s="$sha" \
		'$1 == "proxy-access:" && $18 == "-" && $5 == "GET" && index($6, "/blobs/" s) { n += $13 } END { print int(n / 1024) }')
	check "the paused reader's rest came from the cache: $kib KiB fetched of 49152 KiB" test "$kib" -le 49152
fi
umount_fs d

# --- random reads keep every chunk they fetch: none is downloaded twice while it fits ----
# cache_size=64M holds the 48 MiB file (chunks were once bounded by half of it, and random
# reads then fetched the same chunks again and again).
mount_fs r cache_size=64M
[[ $BACKEND == s3 ]] && log0=$(wc -l <"$MPS3_TEST_S3_PROXY_LOG")
check "36 random 4 KiB reads over every chunk of the 48 MiB file are right" python3 - "$MNT/big" "$T/big" <<'PY'
import random, sys
rnd = random.Random(7)
size = 48 << 20
with open(sys.argv[1], "rb", buffering=0) as m, open(sys.argv[2], "rb") as l:
    for _ in range(3):
        offs = [c * (4 << 20) + rnd.randrange(0, (4 << 20) - 4096) for c in range(12)]
        rnd.shuffle(offs)
        for off in offs:
            m.seek(off)
            l.seek(off)
            if m.read(4096) != l.read(4096):
                sys.exit("random read at %d differs" % off)
PY
if [[ $BACKEND == s3 ]]; then
	sleep 1
	kib=$(tail -n +$((log0 + 1)) "$MPS3_TEST_S3_PROXY_LOG" | awk -v s="$sha" \
		'$1 == "proxy-access:" && $18 == "-" && $5 == "GET" && index($6, "/blobs/" s) { n += $13 } END { print int(n / 1024) }')
	check "three rounds of random reads fetched $kib KiB of the 49152 KiB file: each chunk at most once" \
		test "$kib" -le 49152
fi
umount_fs r

# -o nonempty mounts over a directory's own files (hidden while mounted).
mkdir -p "$T/n"
echo underneath >"$T/n/under"
mount_fs n nonempty
check "-o nonempty: mounted over a directory with a file in it" mountpoint -q "$T/n"
check "-o nonempty: the mount shows the database, not the file underneath" test ! -e "$T/n/under"
umount_fs n
is "$(cat "$T/n/under")" "underneath" "-o nonempty: the file is there again after unmount"
done_testing
