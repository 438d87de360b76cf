# mps3(1) completion for bash: commands, their options, the global options
# (anywhere on the line) and the values that have a fixed set.  Needs only
# bash's own `complete`; keys in the bucket are not completed (that would
# ask the store on every TAB).
#
#   . scripts/completion/mps3.bash      (or install it as
#                                         /usr/share/bash-completion/completions/mps3)
# Kept in step with `mps3 COMMAND --help` by tests/integration/cli_usage.sh.

_mps3_commands='put get rm ls watch log snapshot restore branch checkpoint gc fsck sync status umount batch help'
_mps3_global_opts='--profile --endpoint --region --passwd-file --addressing --ca-bundle --insecure --retries
	--validate --branch --poll --cache-dir --no-cache --format --manifest --mps3-bucket --lag --stale
	--storage-class --sse --sse-kms-key-id --sse-c-key-file --requester-pays --part-size --parallel
	-v --verbose -q --quiet -h --help -V --version'

# The options of command $1 (not the global ones).
_mps3_command_opts() {
	local o=
	case $1 in
	get | restore | snapshot) o='--at' ;;
	rm) o='-r -R --recursive' ;;
	ls) o='-l --json' ;;
	watch | status) o='--json' ;;
	log) o='-n --json --entries' ;;
	branch) o='--at --rebase' ;;
	gc) o='--dry-run --grace --history' ;;
	fsck) o='--verify' ;;
	sync) o='--journal' ;;
	batch) o='--keep' ;;
	umount) o='--timeout' ;;
	esac
	printf '%s\n' "$o"
}

# Whether option $1 takes the next word as its value.
_mps3_takes_value() {
	case $1 in
	--profile | --endpoint | --region | --passwd-file | --addressing | --ca-bundle | --retries | --validate | \
		--branch | --poll | --cache-dir | --format | --manifest | --mps3-bucket | --lag | --stale | \
		--storage-class | --sse | --sse-kms-key-id | --sse-c-key-file | --part-size | --parallel | \
		--at | --grace | --history | --journal | --timeout | -n)
		return 0
		;;
	esac
	return 1
}

_mps3() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev= w cmd= url= i nops=0 ended=
	COMPREPLY=()
	# bash splits --opt=VALUE at the '=' (COMP_WORDBREAKS).
	[[ $cur == = ]] && cur=
	# What is on the line so far, read as mps3 reads it: options (and their
	# values) anywhere, the URL, the command, then its operands.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ -z $ended && $w == -?* ]]; then
			if [[ $w == -- ]]; then
				ended=1
			elif _mps3_takes_value "$w"; then
				[[ ${COMP_WORDS[i + 1]-} == = ]] && ((i++))
				# Its value is the word at the cursor, or was given already.
				if ((i + 1 >= COMP_CWORD)); then
					prev=$w
				else
					((i++))
				fi
			fi
		elif [[ -z $cmd && -z $url && $w == *://* ]]; then
			url=$w
		elif [[ -z $cmd ]]; then
			cmd=$w
		else
			nops=$((nops + 1))
			# batch: the options after COMMAND are COMMAND's.
			[[ $cmd == batch ]] && ((nops >= 2)) && ended=1
		fi
	done
	# The value of an option.
	if [[ -n $prev ]]; then
		case $prev in
		--format) mapfile -t COMPREPLY < <(compgen -W 'mps3fs mps3' -- "$cur") ;;
		--addressing) mapfile -t COMPREPLY < <(compgen -W 'path virtual auto' -- "$cur") ;;
		--passwd-file | --ca-bundle | --validate)
			compopt -o filenames 2>/dev/null || true
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			;;
		--cache-dir | --journal)
			compopt -o filenames 2>/dev/null || true
			mapfile -t COMPREPLY < <(compgen -d -- "$cur")
			;;
		esac
		return 0
	fi
	if [[ -z $ended && $cur == -* ]]; then
		# Before the command's name only the global options are options.
		# shellcheck disable=SC2207
		COMPREPLY=($(compgen -W "$(_mps3_command_opts "$cmd") $_mps3_global_opts" -- "$cur"))
		return 0
	fi
	if [[ -z $cmd ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$_mps3_commands" -- "$cur")
		return 0
	fi
	case $cmd in
	help)
		((nops == 0)) && mapfile -t COMPREPLY < <(compgen -W "$_mps3_commands" -- "$cur")
		;;
	snapshot)
		((nops == 0)) && mapfile -t COMPREPLY < <(compgen -W 'create ls rm' -- "$cur")
		;;
	branch)
		((nops == 0)) && mapfile -t COMPREPLY < <(compgen -W 'create ls diff commit rm' -- "$cur")
		;;
	put)
		if ((nops == 1)); then
			compopt -o filenames 2>/dev/null || true
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		fi
		;;
	batch)
		compopt -o filenames 2>/dev/null || true
		if ((nops == 0)); then
			mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		elif ((nops == 1)); then
			mapfile -t COMPREPLY < <(compgen -c -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		fi
		;;
	status | sync | restore | umount)
		# On a mount: its mount point, or paths in it.
		if [[ -z $url ]]; then
			compopt -o filenames 2>/dev/null || true
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		fi
		;;
	esac
	return 0
}

complete -F _mps3 mps3
