#!/usr/bin/env bash
# The command-line contract every remap-* tool passes (like the common tests
# of thin-provisioning-tools 1.x): --help and --version exit 0; a bad option
# exits 16 with a usage line; an empty file, a 1-byte file, random bytes, a
# JSON file where binary is expected and a v3 image on a v4-only path each
# get a one-line reason and the right exit code; nothing dies of a signal.
#   contract.sh TOOL V3_IMAGE
set -uo pipefail
tool=$1
v3=$2
name=$(basename "$tool")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
	echo "FAIL: $name $*" >&2
	failures=$((failures + 1))
}

# expect EXIT DESCRIPTION -- ARGS...: runs the tool, checks exit code, no signal.
expect() {
	local want=$1 what=$2
	shift 3
	"$tool" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	((rc >= 128)) && fail "$what: killed by signal $((rc - 128))"
	[[ $rc -eq $want ]] || fail "$what: exit $rc, expected $want (stderr: $(head -c 400 "$tmp/err"))"
	return 0
}

one_line_reason() {
	local what=$1
	local lines
	lines=$(wc -l <"$tmp/err")
	[[ $lines -eq 1 ]] || fail "$what: expected a one-line reason on stderr, got $lines lines: $(cat "$tmp/err")"
	grep -q "^$name: " "$tmp/err" || fail "$what: the reason does not start with '$name: '"
}

# How the tool takes one input file.
input_args() {
	case $name in
	remap-repair) echo "-i $1 -o $tmp/out.img" ;;
	*) echo "$1" ;;
	esac
}

expect 0 "--help" -- --help
grep -qi "usage" "$tmp/out" || fail "--help prints no usage"
expect 0 "--version" -- --version
grep -q "dm-remap" "$tmp/out" || fail "--version does not name dm-remap"
expect 16 "bad option" -- --no-such-option
grep -q "^Usage: $name" "$tmp/err" || fail "bad option: no usage line"
expect 16 "no arguments" --

: >"$tmp/empty"
printf 'x' >"$tmp/one"
head -c 1048576 /dev/urandom >"$tmp/random"
printf '{"format_version": 1, "metadata_version": 4, "entries": []}\n' >"$tmp/dump.json"
for f in empty one random dump.json; do
	rm -f "$tmp/out.img"
	# shellcheck disable=SC2046
	expect 8 "input $f" -- $(input_args "$tmp/$f")
	one_line_reason "input $f"
	[[ -e $tmp/out.img ]] && fail "input $f: an output was created"
done
expect 8 "missing input" -- $(input_args "$tmp/does-not-exist")
one_line_reason "missing input"

case $name in
remap-repair)
	cp "$v3" "$tmp/v3.img"
	expect 8 "v3 input" -- -i "$tmp/v3.img" -o "$tmp/out.img"
	one_line_reason "v3 input"
	grep -q "v3" "$tmp/err" || fail "v3 input: the reason does not say v3"
	cmp -s "$v3" "$tmp/v3.img" || fail "v3 input: the input was changed"
	expect 8 "binary passed as a dump" -- --restore "$tmp/random" -o "$tmp/out.img"
	one_line_reason "binary passed as a dump"
	;;
*)
	expect 0 "v3 image (read-only)" -- "$v3"
	;;
esac

if ((failures)); then
	echo "$name: $failures contract failure(s)" >&2
	exit 1
fi
echo "$name: command-line contract passed"
