#!/usr/bin/env bash
# Two mps3 processes (two sessions) writing at the same time: different keys
# converge to the union; the same key converges to one value everywhere.
. "$(dirname "$0")/lib.sh" "$@"

new_db
N=25
writer() {
	local who=$1 i
	for ((i = 0; i < N; i++)); do
		printf '%s-%d' "$who" "$i" | m put "$who/k$i" - || return 1
		printf '%s-%d' "$who" "$i" | m put shared - || return 1
	done
}
writer A >"$T/a.log" 2>&1 &
pa=$!
writer B >"$T/b.log" 2>&1 &
pb=$!
ra=0 rb=0
wait $pa || ra=$?
wait $pb || rb=$?
is "$ra:$rb" "0:0" "both writers finished"

keys=$(m ls)
count=$(grep -c '^[AB]/k' <<<"$keys" || true)
is "$count" $((2 * N)) "the union of both writers' keys is there"
for who in A B; do
	for i in 0 $((N / 2)) $((N - 1)); do
		is "$(m get "$who/k$i")" "$who-$i" "$who/k$i has its writer's value"
	done
done

# Several independent readers agree on the one value of the contested key.
v1=$(m get shared)
v2=$(m get shared)
v3=$(m get shared)
if [[ $v1 == "$v2" && $v2 == "$v3" && $v1 =~ ^[AB]-$((N - 1))$ ]]; then
	ok "the contested key resolves to one final write everywhere ($v1)"
else
	fail "contested key: '$v1' '$v2' '$v3'"
fi
# The log holds every write of it, in one order for everyone.
is "$(m log --entries | grep -c '"shared"')" $((2 * N)) "the log has every write of the contested key"
is "$(m log --entries | awk '{print $2, $3}' | sort | uniq -d | wc -l)" 0 "no session/counter pair repeats in the log"
done_testing
