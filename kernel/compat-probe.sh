#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Probes the kernel headers in $1 (kbuild's $(srctree)) for the API
# differences dm-remap must handle, and prints the matching -D flags.
# Probing the headers, not the version number, also handles stable kernels
# that backported an API change.
set -eu
inc=$1/include/linux

# dm_io() gained an ioprio argument in 6.0; 6.1.83 backported it.
if sed -n '/^int dm_io(/,/;/p' "$inc/dm-io.h" | grep -q ioprio; then
	echo "-DRM_DM_IO_HAS_IOPRIO"
fi
# prepare_ioctl gained a cmd argument in 6.15.
if grep -q 'dm_prepare_ioctl_fn).*unsigned int cmd' "$inc/device-mapper.h"; then
	echo "-DRM_PREPARE_IOCTL_HAS_CMD"
fi
