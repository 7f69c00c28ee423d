#!/bin/bash
# The offline tools refuse a spare that a live dm-remap device (or any other
# dm device) holds, and name that device; once it is removed they work on the
# same spare.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
main="$(make_nullb rmain 32 memory_backed)"
spare="$(make_loop 8)"
format_spare "$main" "$spare"
dm_create held "0 $(sectors "$main") remap $main $spare" >/dev/null

for tool in "remap-check -n" "remap-dump" "remap-repair -o /tmp/out.img -i"; do
	set +e
	out="$($tool "$spare" 2>&1 >/dev/null)"
	rc=$?
	set -e
	[[ $rc -eq 8 ]] || die "$tool on a held spare: exit $rc, expected 8 ($out)"
	grep -q "'held'" <<<"$out" || die "$tool does not name the dm device 'held': $out"
	log "refused: $tool: $out"
done

dm_remove held

# A holder that is not dm-remap (here a linear copy) is named, with the
# command that removes it: dmsetup's, since remapctl removes only its own.
dm_create sparecopy "0 $(sectors "$spare") linear $spare 0" >/dev/null
set +e
out="$(remap-dump "$spare" 2>&1 >/dev/null)"
rc=$?
set -e
[[ $rc -eq 8 ]] || die "remap-dump on a spare held by linear: exit $rc, expected 8 ($out)"
grep -q "in use by dm device 'sparecopy' (remove it with \`dmsetup remove sparecopy\`" <<<"$out" ||
	die "remap-dump on a spare held by linear: $out"
log "refused: remap-dump: $out"
dm_remove sparecopy
remap-check -n "$spare" >/dev/null || die "remap-check fails on the released spare"
remap-dump "$spare" >/dev/null || die "remap-dump fails on the released spare"
log "tools-in-use OK"
