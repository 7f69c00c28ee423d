// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8.
 *
 * Plain C shared by the kernel module and libremapmeta, so both compute the
 * metadata checksums with the same code. rm_crc32c_init() fills the tables:
 * the module calls it at load time, userspace at program start.
 */
#include "rm_format.h"

#define RM_CRC32C_POLY 0x82f63b78u

static __u32 rm_crc32c_table[8][256];

void rm_crc32c_init(void)
{
	unsigned int i, j;

	for (i = 0; i < 256; i++) {
		__u32 crc = i;

		for (j = 0; j < 8; j++)
			crc = (crc >> 1) ^ (RM_CRC32C_POLY & (0u - (crc & 1)));
		rm_crc32c_table[0][i] = crc;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			rm_crc32c_table[j][i] =
				(rm_crc32c_table[j - 1][i] >> 8) ^
				rm_crc32c_table[0][rm_crc32c_table[j - 1][i] &
						   0xff];
}

#ifndef __KERNEL__
__attribute__((constructor)) static void rm_crc32c_constructor(void)
{
	rm_crc32c_init();
}
#endif

static inline __u32 load_le32(const unsigned char *p)
{
	return (__u32)p[0] | (__u32)p[1] << 8 | (__u32)p[2] << 16 |
	       (__u32)p[3] << 24;
}

__u32 rm_crc32c(__u32 crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len >= 8) {
		__u32 lo = load_le32(p) ^ crc;
		__u32 hi = load_le32(p + 4);

		crc = rm_crc32c_table[7][lo & 0xff] ^
		      rm_crc32c_table[6][(lo >> 8) & 0xff] ^
		      rm_crc32c_table[5][(lo >> 16) & 0xff] ^
		      rm_crc32c_table[4][lo >> 24] ^
		      rm_crc32c_table[3][hi & 0xff] ^
		      rm_crc32c_table[2][(hi >> 8) & 0xff] ^
		      rm_crc32c_table[1][(hi >> 16) & 0xff] ^
		      rm_crc32c_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ rm_crc32c_table[0][(crc ^ *p++) & 0xff];
	return crc;
}
