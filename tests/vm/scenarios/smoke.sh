#!/bin/bash
# Bench self-check: the guest booted the expected kernel and the environment
# promised to scenarios is there.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

assert_eq "$DMREMAP_KVER" "$(uname -r)" "running kernel"
[[ $DMREMAP_KVER == "${DMREMAP_KERNEL%-rt}".* ]] || die "DMREMAP_KVER=$DMREMAP_KVER is not a $DMREMAP_KERNEL kernel"
[[ -d $DMREMAP_BUILD && -d $DMREMAP_SRC/tests/vm ]] || die "DMREMAP_BUILD/DMREMAP_SRC not visible in the guest"
[[ :$PATH: == *":$DMREMAP_BUILD/tools:"* ]] || die "PATH lacks $DMREMAP_BUILD/tools"
echo ok >"$RESULTS/smoke.out" || die "RESULTS ($RESULTS) is not writable"
modprobe dm-mod || die "modprobe dm-mod failed"
[[ -c /dev/mapper/control ]] || die "no /dev/mapper/control"
echo "smoke: $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
