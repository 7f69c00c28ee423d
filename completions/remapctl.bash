# bash completion for remapctl(8)                      -*- shell-script -*-
# Install as /usr/share/bash-completion/completions/remapctl. Works without
# the bash-completion package too (plain COMP_WORDS, compgen -f for files).
# shellcheck disable=SC2207 # COMPREPLY=($(compgen ...)) is the idiom

_remapctl_names() {
	remapctl list 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_remapctl_remaptab_names() {
	local tab=${1:-/etc/remaptab}
	[[ -r $tab ]] && awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$tab"
}

_remapctl() {
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	local actions="format migrate create remove list status remap query stats monitor health scan activate deactivate"
	local action="" i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		format | migrate | create | remove | list | status | remap | query | stats | monitor | health | scan | activate | deactivate)
			action=${words[i]}
			break
			;;
		esac
	done

	if [[ -z $action ]]; then
		COMPREPLY=($(compgen -W "$actions -h --help -V --version" -- "$cur"))
		return
	fi

	case $prev in
	--main | --spare)
		if declare -F _filedir >/dev/null; then
			_filedir
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		COMPREPLY+=($(compgen -W "$(lsblk -dpno NAME 2>/dev/null)" -- "$cur"))
		return
		;;
	--format)
		COMPREPLY=($(compgen -W "human json prometheus" -- "$cur"))
		return
		;;
	--block-size)
		COMPREPLY=($(compgen -W "512 1024 2048 4096 8192 16384 32768 65536" -- "$cur"))
		return
		;;
	--remaptab)
		if declare -F _filedir >/dev/null; then
			_filedir
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return
		;;
	--retries | --sector | --interval | --spare-start | --spare-len | --wait | --scan-rate | --slow-ms | --rate)
		return
		;;
	esac

	local opts="-h --help"
	case $action in
	format) opts+=" --main --spare --block-size --force --batch --json" ;;
	migrate) opts+=" --main --spare --spare-start --spare-len --block-size --dry-run --batch" ;;
	create) opts+=" --main --spare --retries --scan-rate --slow-ms --json" ;;
	remove) opts+=" --deferred --force --json" ;;
	list) opts+=" --json" ;;
	status) opts+=" --format --json" ;;
	remap | query) opts+=" --sector --json" ;;
	stats) opts+=" --clear --json" ;;
	monitor) opts+=" --json --interval --once" ;;
	health) opts+=" --spare --json" ;;
	scan) opts+=" --rate --json" ;;
	activate) opts+=" --all --remaptab --wait" ;;
	deactivate) opts+=" --all --remaptab" ;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi
	case $action in
	remove | status | remap | query | stats | monitor | health)
		COMPREPLY=($(compgen -W "$(_remapctl_names)" -- "$cur"))
		;;
	scan)
		if [[ $prev == scan ]]; then
			COMPREPLY=($(compgen -W "start stop status" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_remapctl_names)" -- "$cur"))
		fi
		;;
	activate | deactivate)
		local tab="" j
		for ((j = 1; j < cword; j++)); do
			[[ ${words[j]} == --remaptab ]] && tab=${words[j + 1]}
		done
		COMPREPLY=($(compgen -W "$(_remapctl_remaptab_names "$tab")" -- "$cur"))
		;;
	esac
} &&
	complete -F _remapctl remapctl

# ex: filetype=sh
