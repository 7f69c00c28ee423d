// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-remap: a device-mapper target that serves failing blocks of a main
 * device from blocks of a spare device.
 *
 * This is the foundation skeleton: it registers target "remap", takes the
 * final table line and passes all I/O through to the main device.
 *
 * Table line:
 *   <start> <len> remap <main_dev> <spare_dev> [<#features> <feature>...]
 */
#include <linux/device-mapper.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "rm_format.h"

#define DM_MSG_PREFIX "remap"

struct remap_c {
	struct dm_dev *main_dev;
	struct dm_dev *spare_dev;
};

static void remap_destroy(struct dm_target *ti, struct remap_c *rc)
{
	if (rc->spare_dev)
		dm_put_device(ti, rc->spare_dev);
	if (rc->main_dev)
		dm_put_device(ti, rc->main_dev);
	kfree(rc);
}

static int remap_parse_features(struct dm_arg_set *as, struct dm_target *ti)
{
	static const struct dm_arg _args[] = {
		{ 0, 0, "Invalid number of feature arguments" },
	};
	unsigned int nr_features;
	int r;

	if (!as->argc)
		return 0;
	r = dm_read_arg_group(_args, as, &nr_features, &ti->error);
	if (r)
		return r;
	return 0;
}

/*
 * Construct a remap mapping:
 *   <main_dev> <spare_dev> [<#features> <feature>...]
 */
static int remap_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct remap_c *rc;
	int r;

	if (argc < 2) {
		ti->error = "Not enough arguments: need <main_dev> <spare_dev>";
		return -EINVAL;
	}

	rc = kzalloc(sizeof(*rc), GFP_KERNEL);
	if (!rc) {
		ti->error = "Cannot allocate remap context";
		return -ENOMEM;
	}

	r = dm_get_device(ti, dm_shift_arg(&as), dm_table_get_mode(ti->table),
			  &rc->main_dev);
	if (r) {
		ti->error = "Main device lookup failed";
		goto bad;
	}
	r = dm_get_device(ti, dm_shift_arg(&as), dm_table_get_mode(ti->table),
			  &rc->spare_dev);
	if (r) {
		ti->error = "Spare device lookup failed";
		goto bad;
	}
	if (rc->main_dev->bdev == rc->spare_dev->bdev) {
		ti->error = "Main and spare are the same device";
		r = -EINVAL;
		goto bad;
	}
	if (ti->len > bdev_nr_sectors(rc->main_dev->bdev)) {
		ti->error = "Target length exceeds the main device size";
		r = -EINVAL;
		goto bad;
	}
	r = remap_parse_features(&as, ti);
	if (r)
		goto bad;

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->private = rc;
	return 0;

bad:
	remap_destroy(ti, rc);
	return r;
}

static void remap_dtr(struct dm_target *ti)
{
	remap_destroy(ti, ti->private);
}

static int remap_map(struct dm_target *ti, struct bio *bio)
{
	struct remap_c *rc = ti->private;

	bio_set_dev(bio, rc->main_dev->bdev);
	if (bio_sectors(bio) || op_is_zone_mgmt(bio_op(bio)))
		bio->bi_iter.bi_sector =
			dm_target_offset(ti, bio->bi_iter.bi_sector);
	return DM_MAPIO_REMAPPED;
}

static void remap_status(struct dm_target *ti, status_type_t type,
			 unsigned int status_flags, char *result,
			 unsigned int maxlen)
{
	struct remap_c *rc = ti->private;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("%u", RM4_VERSION_MAJOR);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %s", rc->main_dev->name, rc->spare_dev->name);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",main_device_name=%s,spare_device_name=%s;",
		       rc->main_dev->name, rc->spare_dev->name);
		break;
	}
}

static int remap_iterate_devices(struct dm_target *ti,
				 iterate_devices_callout_fn fn, void *data)
{
	struct remap_c *rc = ti->private;

	return fn(ti, rc->main_dev, 0, ti->len, data);
}

static struct target_type remap_target = {
	.name = "remap",
	.version = { 0, 1, 0 },
	.features = DM_TARGET_NOWAIT,
	.module = THIS_MODULE,
	.ctr = remap_ctr,
	.dtr = remap_dtr,
	.map = remap_map,
	.status = remap_status,
	.iterate_devices = remap_iterate_devices,
};

static int __init dm_remap_init(void)
{
	rm_crc32c_init();
	return dm_register_target(&remap_target);
}

static void __exit dm_remap_exit(void)
{
	dm_unregister_target(&remap_target);
}

module_init(dm_remap_init);
module_exit(dm_remap_exit);

MODULE_DESCRIPTION(DM_NAME
		   " target serving failing blocks from a spare device");
MODULE_AUTHOR("dm-remap developers");
MODULE_LICENSE("GPL");
