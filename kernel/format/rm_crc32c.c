// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * In the kernel, the kernel's own crc32c() (<linux/crc32c.h>: lib/crc32 since
 * 6.14, the libcrc32c module before, both with the CPU's CRC instructions
 * where there are any); rm_crc32c_init() does nothing there. In userspace
 * (libremapmeta and the tests), plain C slicing-by-8 whose tables
 * rm_crc32c_init() fills at program start. Both compute the same raw CRC:
 * no inversion on entry or exit (RM_CRC32C_INIT and rm_crc32c_final() do
 * that).
 */
#include "rm_format.h"

#ifdef __KERNEL__
#include <linux/crc32c.h>

void rm_crc32c_init(void)
{
}

__u32 rm_crc32c(__u32 crc, const void *buf, size_t len)
{
	return crc32c(crc, buf, len);
}
#else

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

__attribute__((constructor)) static void rm_crc32c_constructor(void)
{
	rm_crc32c_init();
}

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
#endif /* __KERNEL__ */
