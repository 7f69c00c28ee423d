#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Probes the kernel headers for the API differences dm-remap must handle and
# prints the matching -D flags (compat.h uses them).
#
#   compat-probe.sh SRCTREE            (from Kbuild, with RM_PROBE_CC and
#                                       RM_PROBE_CFLAGS in the environment)
#
# Probing the headers, not the version number, also handles stable kernels
# that backported an API change. A signature is probed by compiling a call
# against the headers with the kernel's own compiler and flags (kbuild's
# $(CC), $(LINUXINCLUDE) and $(KBUILD_CFLAGS), passed by Kbuild): a grep
# breaks as soon as a declaration is wrapped differently. Without a compiler
# (RM_PROBE_CC unset) only the greps run.
set -eu
inc=$1/include/linux

# compiles C: true if the C source on stdin compiles against the headers.
compiles() {
	[ -n "${RM_PROBE_CC:-}" ] || return 1
	# shellcheck disable=SC2086 # RM_PROBE_CC and RM_PROBE_CFLAGS are word lists
	$RM_PROBE_CC $RM_PROBE_CFLAGS -Werror -Wno-missing-prototypes \
		-Wno-missing-declarations -Wno-unused-function \
		-fsyntax-only -x c - >/dev/null 2>&1
}

# probe FLAG: prints -DFLAG if the C source on stdin compiles.
probe() {
	if compiles; then
		echo "-D$1"
	fi
}

# dm_io() gained an ioprio argument in 6.0; 6.1.83 backported it.
if [ -n "${RM_PROBE_CC:-}" ]; then
	probe RM_DM_IO_HAS_IOPRIO <<'EOF'
#include <linux/dm-io.h>
int rm_probe(struct dm_io_request *r, struct dm_io_region *w, unsigned long *e)
{
	return dm_io(r, 1, w, e, 0);
}
EOF
elif sed -n '/^int dm_io(/,/;/p' "$inc/dm-io.h" | grep -q ioprio; then
	echo "-DRM_DM_IO_HAS_IOPRIO"
fi

# dm_io() gained an `unsigned long *sync_unsup_bits` argument before its
# ioprio (and io_notify_fn an `unsup` one) in 7.3.
if [ -n "${RM_PROBE_CC:-}" ]; then
	probe RM_DM_IO_HAS_UNSUP <<'EOF'
#include <linux/dm-io.h>
int rm_probe(struct dm_io_request *r, struct dm_io_region *w, unsigned long *e,
	     unsigned long *u)
{
	return dm_io(r, 1, w, e, u, 0);
}
EOF
elif sed -n '/^int dm_io(/,/;/p' "$inc/dm-io.h" | grep -q sync_unsup_bits; then
	echo "-DRM_DM_IO_HAS_UNSUP"
fi

# prepare_ioctl gained cmd, arg and forward arguments in 6.16.
if [ -n "${RM_PROBE_CC:-}" ]; then
	probe RM_PREPARE_IOCTL_HAS_CMD <<'EOF'
#include <linux/device-mapper.h>
static int rm_probe(struct dm_target *ti, struct block_device **bdev,
		    unsigned int cmd, unsigned long arg, bool *forward)
{
	return 0;
}
dm_prepare_ioctl_fn rm_probe_fn = rm_probe;
EOF
elif sed -n '/dm_prepare_ioctl_fn)/,/;/p' "$inc/device-mapper.h" | grep -q 'unsigned int cmd'; then
	echo "-DRM_PREPARE_IOCTL_HAS_CMD"
fi

# crc32c() moved from the libcrc32c module into lib/crc32 (<linux/crc32.h>,
# always built in) in 6.14; <linux/crc32c.h> stayed as a wrapper. Only for
# the record (the module's dependency on libcrc32c comes from modpost).
if ! grep -q 'crc32c(' "$inc/crc32c.h" && grep -q 'crc32c(' "$inc/crc32.h"; then
	echo "-DRM_CRC32C_IN_CRC32"
fi
