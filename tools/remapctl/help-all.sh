#!/usr/bin/env bash
# Prints remapctl's --help followed by the --help of every action it lists,
# so that tests/tools/man-options.sh (which reads one tool's --help) checks
# that every option of every action is documented in remapctl(8).
#   REMAPCTL=<build>/tools/remapctl help-all.sh --help
set -euo pipefail
remapctl=${REMAPCTL:?set REMAPCTL to the remapctl binary}
"$remapctl" --help
actions=$("$remapctl" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF { print $1 }')
[[ -n $actions ]] || { echo "help-all.sh: no actions in remapctl --help" >&2 && exit 1; }
for action in $actions; do
	"$remapctl" "$action" --help
done
