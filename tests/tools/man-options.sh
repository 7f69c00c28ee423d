#!/usr/bin/env bash
# Every option a tool accepts (as its --help lists them) appears in its man page.
#   man-options.sh TOOL MANPAGE
set -euo pipefail
tool=$1
page=$2
# The man page's text with roff escapes for '-' removed.
text=$(sed -e 's/\\-/-/g' "$page")
help=$("$tool" --help) || { echo "FAIL: $tool --help exited $?" >&2 && exit 1; }
options=$(grep -oE '(^|[ ,])--?[A-Za-z][A-Za-z-]*' <<<"$help" | sed 's/^[ ,]//' | sort -u)
[[ -n $options ]] || { echo "FAIL: no options in $tool --help" >&2 && exit 1; }
missing=0
while read -r opt; do
	if ! grep -qF -- "$opt" <<<"$text"; then
		echo "FAIL: $(basename "$tool") option $opt is not in $page" >&2
		missing=$((missing + 1))
	fi
done <<<"$options"
((missing == 0)) && echo "$(basename "$tool"): every option is documented in $(basename "$page")"
exit $((missing > 0))
