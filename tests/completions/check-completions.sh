#!/usr/bin/env bash
# Checks remapctl's shell completions against remapctl itself: every action
# and every long option of every action (as `remapctl [ACTION] --help` lists
# them) must be completed, and value completions must offer their values.
#   check-completions.sh bash|zsh|fish REMAPCTL COMPLETIONS_DIR
# bash and fish are driven for real (bash: the completion function with
# COMP_WORDS/COMP_CWORD set as readline would; fish: `complete -C`). zsh has
# no non-interactive driver, so its file must load under compinit and each
# action's `_arguments` block must name every option of that action.
set -euo pipefail

shell=${1:?usage: check-completions.sh bash|zsh|fish REMAPCTL COMPLETIONS_DIR}
remapctl=${2:?REMAPCTL missing}
dir=${3:?COMPLETIONS_DIR missing}
failures=0

fail() {
	echo "FAIL: $shell: $*" >&2
	failures=$((failures + 1))
}

# actions: the subcommands remapctl --help lists.
actions() {
	"$remapctl" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF { print $1 }'
}

# long_options ACTION: the long options in the Options section of its --help.
long_options() {
	"$remapctl" "$1" --help | sed -n '/^Options:/,/^[^ ]/p' |
		grep -oE '^ +(-[A-Za-z],)?--[A-Za-z][A-Za-z0-9-]*' | grep -oE -- '--[A-Za-z0-9-]+'
}

# expect_only WHAT ALLOWED GOT: every option among the words of GOT is in
# ALLOWED (a completion offers no option the action would reject).
expect_only() {
	local what=$1 w
	for w in $(grep -oE -- '^--?[A-Za-z][A-Za-z0-9-]*$' <<<"$(tr ' \t' '\n\n' <<<"$3")"); do
		grep -qxF -- "$w" <<<"$(tr ' \t' '\n\n' <<<"$2")" || fail "$what: offers '$w', which it does not accept"
	done
}

# expect_all WHAT WANTED GOT: every word of WANTED is among the words of GOT.
expect_all() {
	local what=$1 w
	for w in $2; do
		grep -qxF -- "$w" <<<"$(tr ' \t' '\n\n' <<<"$3")" || fail "$what: '$w' is not offered (got: $(echo $3))"
	done
}

all_actions=$(actions)
[[ -n $all_actions ]] || { echo "FAIL: no actions in $remapctl --help" >&2 && exit 1; }
checked=0

case $shell in
bash)
	file=$dir/remapctl.bash
	bash -n "$file" || fail "syntax error in $file"
	# complete_words WORD...: what the completion function offers for the
	# command line WORD... (the last word is the one being completed).
	complete_words() {
		# A subshell: the completion runs with remapctl on PATH, as installed.
		(
			PATH=$(dirname "$remapctl"):$PATH
			# shellcheck source=completions/remapctl.bash
			. "$file"
			COMP_WORDS=("$@")
			COMP_CWORD=$(($# - 1))
			COMP_LINE="$*"
			COMP_POINT=${#COMP_LINE}
			COMPREPLY=()
			_remapctl remapctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
			printf '%s\n' "${COMPREPLY[@]}"
		)
	}
	expect_all "remapctl <TAB>" "$all_actions --help --version" "$(complete_words remapctl '')"
	got=$(complete_words remapctl st)
	[[ $(sort <<<"$got" | tr '\n' ' ') == "stats status " ]] || fail "remapctl st<TAB> offers '$got', not 'stats status'"
	for a in $all_actions; do
		opts=$(long_options "$a")
		[[ -n $opts ]] || fail "no options in remapctl $a --help"
		got=$(complete_words remapctl "$a" --)
		expect_all "remapctl $a --<TAB>" "$opts" "$got"
		expect_only "remapctl $a --<TAB>" "$opts" "$got"
		checked=$((checked + $(wc -w <<<"$opts")))
	done
	expect_all "remapctl status --format <TAB>" "human json prometheus" \
		"$(complete_words remapctl status --format '')"
	expect_all "remapctl format --block-size <TAB>" "512 4096 65536" \
		"$(complete_words remapctl format --block-size '')"
	# Device names come from `remapctl list`; with no device-mapper here it
	# fails, and the completion must offer nothing and print nothing.
	err=$(complete_words remapctl status '' 2>&1 >/dev/null)
	[[ -z $err ]] || fail "remapctl status <TAB> printed '$err' on stderr"
	# Block devices for --main: a path typed so far completes as a file.
	tmp=$(mktemp -d)
	touch "$tmp/disk-a"
	expect_all "remapctl create x --main $tmp/di<TAB>" "$tmp/disk-a" \
		"$(complete_words remapctl create x --main "$tmp/di")"
	rm -rf "$tmp"
	;;
zsh)
	file=$dir/_remapctl
	zsh -n "$file" || fail "syntax error in $file"
	# It loads under compinit and registers itself for remapctl (#compdef).
	# (compinit deletes its dump file even with -D: give it a scratch one.)
	zdump=$(mktemp -d)
	out=$(zsh -f -c "fpath=($dir \$fpath); autoload -Uz compinit; compinit -u -D -d $zdump/zcompdump; \
		print -r -- \${_comps[remapctl]}" 2>&1) || fail "compinit with $dir failed: $out"
	rm -rf "$zdump"
	[[ $out == _remapctl ]] || fail "compinit did not register _remapctl for remapctl (got '$out')"
	for a in $all_actions; do
		grep -qE "^[[:space:]]*'$a:" "$file" || fail "action $a is not in the actions list"
		# The case arm of this action: from its pattern line to the next ';;'.
		arm=$(awk -v a="$a" '
			/^[[:space:]]*[a-z |]+\)[[:space:]]*$/ {
				n = split($0, pats, /[ \t|)]+/); inarm = 0
				for (i = 1; i <= n; i++) if (pats[i] == a) inarm = 1
			}
			inarm { print }
			inarm && /;;/ { inarm = 0 }' "$file")
		[[ -n $arm ]] || { fail "no case arm for $a" && continue; }
		for o in $(long_options "$a"); do
			[[ $o == --help ]] && continue # offered by _arguments itself
			# "$json" stands for the shared --json spec.
			if ! grep -qE -- "(^|[^A-Za-z0-9-])$o(\\[|=|'|\"|\\})" <<<"$arm" &&
				! { [[ $o == --json ]] && grep -qF '"$json"' <<<"$arm"; }; then
				fail "remapctl $a: option $o has no completion"
			fi
			checked=$((checked + 1))
		done
	done
	;;
fish)
	file=$dir/remapctl.fish
	fish -n "$file" || fail "syntax error in $file"
	complete_line() {
		PATH=$(dirname "$remapctl"):$PATH fish --no-config -c "source $file; complete -C '$1'" | cut -f1
	}
	expect_all "remapctl <TAB>" "$all_actions" "$(complete_line 'remapctl ')"
	for a in $all_actions; do
		opts=$(long_options "$a")
		got=$(complete_line "remapctl $a --")
		expect_all "remapctl $a --<TAB>" "$opts" "$got"
		expect_only "remapctl $a --<TAB>" "$opts" "$got"
		checked=$((checked + $(wc -w <<<"$opts")))
	done
	expect_all "remapctl status --format <TAB>" "human json prometheus" \
		"$(complete_line 'remapctl status --format ')"
	;;
*)
	echo "check-completions.sh: unknown shell '$shell' (bash, zsh or fish)" >&2
	exit 2
	;;
esac

if ((failures)); then
	echo "$shell: $failures failure(s)" >&2
	exit 1
fi
echo "$shell: every action and all $checked options of $(wc -w <<<"$all_actions") actions complete"
