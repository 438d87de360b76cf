#!/usr/bin/env bash
# install: `meson install --destdir` into a private directory, then what a
# user of the installed tree gets: libmps3.so with the soname of the ABI
# policy (README, Install) exporting exactly the functions of the installed
# headers, headers that compile alone, an mps3.pc with which a program
# outside the tree builds and runs against the staged library, the man
# pages, the systemd unit and the shell completion that the tree has.
# Nothing outside $TMPDIR is written but meson's own install log in the
# build directory; no root needed.
. "$(dirname "$0")/../integration/lib.sh" file

BUILDDIR=${MPS3_BUILDDIR:?}
STAGE=$T/stage
read -ra CC_CMD <<<"${MPS3_CC:?}"
CFLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
if [[ ${MPS3_SANITIZE:-none} != none ]]; then
	CFLAGS+=("-fsanitize=$MPS3_SANITIZE")
fi
declare -A EXPECTED=() # every file or link the install may put in $STAGE
expect() { EXPECTED[$STAGE$1]=1; }

if meson install -C "$BUILDDIR" --no-rebuild --quiet --destdir "$STAGE" >"$T/install.log" 2>&1; then
	ok "meson install --destdir"
else
	fail "meson install --destdir"
	sed 's/^/# /' "$T/install.log"
	done_testing
	exit 1
fi

# -- binaries: linked statically against libmps3, so no rpath is needed.
bins=(mps3)
if [[ $MPS3_FUSE == 1 ]]; then bins+=(mps3fs); fi
for b in "${bins[@]}"; do
	expect "$MPS3_BINDIR/$b"
	is "$("$STAGE$MPS3_BINDIR/$b" --version 2>&1 | grep -c "$MPS3_VERSION")" 1 "installed $b runs and tells version $MPS3_VERSION"
	is "$(readelf -d "$STAGE$MPS3_BINDIR/$b" | grep -c 'libmps3')" 0 "$b does not need libmps3.so"
done

# -- the library and its soname: 0.MINOR while the version is 0.x, then MAJOR.
IFS=. read -r major minor _ <<<"$MPS3_VERSION"
if [[ $major == 0 ]]; then soname=libmps3.so.0.$minor; else soname=libmps3.so.$major; fi
lib=$STAGE$MPS3_LIBDIR
expect "$MPS3_LIBDIR/libmps3.so"
expect "$MPS3_LIBDIR/$soname"
expect "$MPS3_LIBDIR/libmps3.so.$MPS3_VERSION"
is "$(readelf -d "$lib/libmps3.so.$MPS3_VERSION" 2>&1 | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')" "$soname" \
	"libmps3.so.$MPS3_VERSION has the soname $soname"
is "$(readlink "$lib/$soname")" "libmps3.so.$MPS3_VERSION" "$soname links to libmps3.so.$MPS3_VERSION"
is "$(readlink "$lib/libmps3.so")" "$soname" "libmps3.so (for -lmps3) links to $soname"
if [[ -n $(find "$lib" -maxdepth 1 -name 'libmps3*.a') ]]; then
	fail "no static library is installed"
else
	ok "no static library is installed"
fi

# -- exports: the functions declared in the installed headers (preprocessed,
# so no comments and no macros; static inline ones left out), no more and
# no less.
inc=$STAGE$MPS3_INCLUDEDIR
for h in "$inc"/mps3/*.h "$inc"/mps3/sys/*.h; do
	"${CC_CMD[@]}" -E -P -I"$inc" "$h"
done | tr '\n' ' ' | sed -E 's/static[[:space:]]+inline[^(]*\(//g' |
	grep -oE '(\(\*[[:space:]]*)?\bmps3_[a-z0-9_]+[[:space:]]*\(' | grep -v '^(\*' |
	sed -E 's/[[:space:]]*\($//' | sort -u >"$T/declared" || true
nm -D --defined-only "$lib/libmps3.so.$MPS3_VERSION" | awk '{print $3}' | sort -u >"$T/exported"
if (($(wc -l <"$T/declared") > 100)) && diff "$T/declared" "$T/exported" >"$T/exports.diff"; then
	ok "libmps3.so exports the $(wc -l <"$T/exported") functions of the headers and nothing else"
else
	fail "libmps3.so exports the functions of the headers and nothing else"
	diag "< declared, not exported; > exported, not declared (src/libmps3.map):"
	sed 's/^/# /' "$T/exports.diff"
fi

# -- headers: the tree's include/mps3, each one alone (and twice) is valid C11.
(cd "$SRCDIR/include" && find mps3 -name '*.h' | sort) >"$T/src-headers"
(cd "$inc" && find mps3 -type f | sort) >"$T/staged-headers"
is "$(diff "$T/src-headers" "$T/staged-headers")" "" "include/mps3 is installed whole, sys/ too"
export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$STAGE
expect "$MPS3_LIBDIR/pkgconfig/mps3.pc"
read -ra PC_CFLAGS <<<"$(pkg-config --cflags mps3)"
read -ra PC_LIBS <<<"$(pkg-config --libs mps3)"
bad=()
while read -r h; do
	expect "$MPS3_INCLUDEDIR/$h"
	printf '#include <%s>\n#include <%s>\n' "$h" "$h" >"$T/one.c"
	"${CC_CMD[@]}" "${CFLAGS[@]}" "${PC_CFLAGS[@]}" -fsyntax-only "$T/one.c" 2>"$T/one.err" ||
		{ bad+=("$h"); sed 's/^/# /' "$T/one.err" | head -5; }
done <"$T/staged-headers"
is "${bad[*]}" "" "each of $(wc -l <"$T/staged-headers") headers compiles alone with ${CFLAGS[*]}"

# -- pkg-config: the staged paths, jansson public (the headers include
# <jansson.h>), the rest of what libmps3.so links private.
is "$(pkg-config --modversion mps3)" "$MPS3_VERSION" "mps3.pc: version"
is "$(printf '%s\n' "${PC_CFLAGS[@]}" | grep -cx -- "-I$inc")" 1 "mps3.pc: Cflags name the include directory"
is "$(printf '%s\n' "${PC_LIBS[@]}" | grep -x -- "-L$lib\|-lmps3" | tr '\n' ' ')" "-L$lib -lmps3 " \
	"mps3.pc: Libs name the library directory and -lmps3"
is "$(pkg-config --print-requires mps3 | awk '{print $1}' | tr '\n' ' ')" "jansson " "mps3.pc: Requires jansson"
is "$(pkg-config --print-requires-private mps3 | awk '{print $1}' | sort | tr '\n' ' ')" "expat libcrypto libcurl " \
	"mps3.pc: Requires.private libcurl, libcrypto, expat"

# -- a program outside the tree, built and run against the staged library.
if "${CC_CMD[@]}" "${CFLAGS[@]}" "${PC_CFLAGS[@]}" -o "$T/consumer" "$SRCDIR/tests/install/consumer.c" \
	"${PC_LIBS[@]}" 2>"$T/cc.err"; then
	ok "a program builds with pkg-config --cflags --libs mps3"
else
	fail "a program builds with pkg-config --cflags --libs mps3"
	sed 's/^/# /' "$T/cc.err"
fi
is "$(readelf -d "$T/consumer" | grep -c "NEEDED.*\[$soname\]")" 1 "it needs $soname"
is "$(LD_LIBRARY_PATH=$lib ldd "$T/consumer" | awk '$1 == "'"$soname"'" {print $3}')" "$lib/$soname" \
	"the loader takes the staged $soname"
mkdir "$T/bucket"
is "$(LD_LIBRARY_PATH=$lib "$T/consumer" "$T/bucket" 2>&1)" ok "it writes a key and reads it back through a second database"
is "$("$MPS3" "file://$T/bucket" get notes/hello.txt 2>&1)" "written through the installed libmps3" \
	"mps3 reads the key it wrote from the bucket"

# -- man pages: every page of man/ (mps3fs.1 only with the daemon).
for page in "$SRCDIR"/man/*.[1-9]; do
	name=${page##*/}
	if [[ $name == mps3fs.1 && $MPS3_FUSE != 1 ]]; then continue; fi
	dest=$MPS3_MANDIR/man${name##*.}/$name
	expect "$dest"
	check "man page $name is installed" cmp "$page" "$STAGE$dest"
done

# -- the systemd template unit, checked by systemd's own parser when it is here.
if [[ $MPS3_FUSE == 1 && $MPS3_UNITDIR != no ]]; then
	unit=$STAGE$MPS3_UNITDIR/mps3fs@.service
	expect "$MPS3_UNITDIR/mps3fs@.service"
	if [[ -f $unit ]]; then ok "mps3fs@.service is installed"; else fail "mps3fs@.service is installed"; fi
	is "$(grep -c '@[A-Z]*@' "$unit")" 0 "the unit has nothing left to substitute"
	is "$(grep '^ExecStart=' "$unit")" \
		"ExecStart=$MPS3_BINDIR/mps3fs -f \$MPS3FS_OPTIONS \${MPS3FS_URL} \${MPS3FS_MOUNTPOINT}" \
		"the unit runs the installed mps3fs in the foreground"
	is "$(grep -E '^(Type|EnvironmentFile|ExecStop|After)=' "$unit" | sort | tr '\n' ' ')" \
		"After=network-online.target EnvironmentFile=$MPS3_SYSCONFDIR/mps3fs/%i.conf ExecStop=fusermount3 -u \${MPS3FS_MOUNTPOINT} Type=simple " \
		"the unit reads SYSCONFDIR/mps3fs/INSTANCE.conf, unmounts with fusermount3, waits for the network"
	if command -v systemd-analyze >/dev/null; then
		mkdir "$T/units"
		sed "s|^ExecStart=$MPS3_BINDIR/|ExecStart=$STAGE$MPS3_BINDIR/|" "$unit" >"$T/units/mps3fs@notes.service"
		if systemd-analyze verify --man=no "$T/units/mps3fs@notes.service" >"$T/verify.out" 2>&1 &&
			[[ ! -s $T/verify.out ]]; then
			ok "systemd-analyze verify finds nothing to say about mps3fs@notes.service"
		else
			fail "systemd-analyze verify finds nothing to say about mps3fs@notes.service"
			sed 's/^/# /' "$T/verify.out"
		fi
	else
		fail "systemd-analyze is installed (scripts/install-deps installs systemd)"
	fi
fi

# -- completion scripts, installed when the tree has them.
comps=("scripts/completion/mps3.bash:$MPS3_DATADIR/bash-completion/completions/mps3"
	"scripts/completion/_mps3:$MPS3_DATADIR/zsh/site-functions/_mps3")
for c in "${comps[@]}"; do
	src=${c%%:*} dest=${c#*:}
	if [[ -f $SRCDIR/$src ]]; then
		expect "$dest"
		if cmp "$SRCDIR/$src" "$STAGE$dest" >&2; then
			ok "$src is installed as $dest"
		else
			fail "$src is installed as $dest"
			diag "meson looks for it at setup: meson setup --reconfigure $BUILDDIR"
		fi
	elif [[ -e $STAGE$dest ]]; then
		fail "$dest is not installed without $src"
	else
		ok "no $src, nothing installed for it"
	fi
done

# -- and nothing else: no test program, no internal library.
find "$STAGE" \( -type f -o -type l \) | sort >"$T/staged"
printf '%s\n' "${!EXPECTED[@]}" | sort >"$T/expected"
if diff "$T/expected" "$T/staged" >"$T/staged.diff"; then
	ok "the install holds those $(wc -l <"$T/staged") files and nothing else"
else
	fail "the install holds those files and nothing else"
	sed "s|$STAGE||; s/^/# /" "$T/staged.diff"
fi

done_testing
