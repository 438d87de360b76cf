#!/usr/bin/env bash
# No privilege from the bucket (issue 8, item 2): set-id and sticky bits
# and owners of planted entries are not shown unless the mount opts in
# (-o suid, -o trust_owners); allow_other brings default_permissions.
. "$(dirname "$0")/../integration/lib.sh" "$@"
require_fuse
new_db
printf '#!/bin/sh\nid -u\n' >"$T/prog"
sha=$(plant_blob "$T/prog")
plant '{"suid":'"$(file_entry "$sha" "$(stat -c %s "$T/prog")" '"mode":3565,"uid":12345,"gid":12345')"',"sticky":{"type":"d","mode":1023,"uid":12345}}'
mount_fs a
A=$MNT
watch_all "$A"
wait_for 30 test -f "$A/suid" || fail "the planted file never showed"
is "$(stat -c '%a %u %g' "$A/suid")" "755 $(id -u) $(id -g)" "set-id bits and owners from the bucket are not shown"
is "$(stat -c '%a %u' "$A/sticky")" "777 $(id -u)" "nor the sticky bit of a directory"
cp -a "$A/suid" "$T/copied"
is "$(stat -c '%a' "$T/copied")" "755" "cp -a copies it out without set-id bits"
if [[ $(grep " $A " /proc/mounts) == *nosuid* ]]; then ok "the mount is nosuid"; else fail "mount options: $(grep " $A " /proc/mounts)"; fi
# Extended attribute names a bucket writer plants: only user.* are listed, and the virtual ones are ours.
plant '{"xa":'"$(file_entry "$sha" "$(stat -c %s "$T/prog")" '"xattr":{"security.capability":"AQAAAgAgAAAAAAAAAAAAAAAAAAA=","trusted.x":"t","user.mps3.version":"fake","user.ok":"v"}')"'}'
wait_for 30 test -f "$A/xa" || fail "the planted file with xattrs never showed"
is "$(getfattr -d -m - --absolute-names "$A/xa" 2>/dev/null | grep -v '^#' | grep . | tr '\n' ' ')" 'user.ok="v" ' \
	"only user.* attributes are listed, not planted security.*, trusted.* or user.mps3.*"
is "$(getfattr -n user.mps3.version --only-values --absolute-names "$A/xa" 2>/dev/null)" "$sha" \
	"user.mps3.version is the mount's own, not the planted value"
umount_fs a

mount_fs b suid trust_owners
B=$MNT
wait_for 30 test -f "$B/suid" || true
is "$(stat -c '%a %u %g' "$B/suid")" "6755 12345 12345" "with -o suid,trust_owners they are shown"
umount_fs b

# allow_other without default_permissions would let every local user act with the daemon's rights.
mount_fs c allow_other
C=$MNT
if [[ $(grep " $C " /proc/mounts) == *default_permissions* ]]; then ok "allow_other brings default_permissions"; else fail "options: $(grep " $C " /proc/mounts)"; fi
if grep -q "adding default_permissions" "$T/c.err"; then ok "and says so"; else fail "no notice: $(cat "$T/c.err")"; fi
umount_quiet c
mount_fs d allow_other no_default_permissions
D=$MNT
if [[ $(grep " $D " /proc/mounts) != *default_permissions* ]]; then ok "no_default_permissions turns it off"; else fail "options: $(grep " $D " /proc/mounts)"; fi
umount_quiet d
done_testing
