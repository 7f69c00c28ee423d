#!/usr/bin/env bash
# Prints remapctl's --help followed by every action's, so that
# tests/tools/man-options.sh (which reads one tool's --help) checks that every
# option of every action is documented in remapctl(8).
#   REMAPCTL=<build>/tools/remapctl help-all.sh --help
set -euo pipefail
remapctl=${REMAPCTL:?set REMAPCTL to the remapctl binary}
"$remapctl" --help
for action in format create remove list status remap query stats monitor; do
	"$remapctl" "$action" --help
done
