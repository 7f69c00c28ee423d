// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test points of the test build: see dm-remap-testpoint.h. Built only with
 * DM_REMAP_TESTING=1.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "dm-remap-testpoint.h"

struct rm_tp_state {
	const char *name;
	spinlock_t lock;
	unsigned int count; /* hits that still act */
	u64 unit;
	unsigned int delay_ms;
	int error;
	unsigned long hits; /* hits that acted */
};

static struct rm_tp_state points[RM_TP_NR] = {
	[RM_TP_MAP_BUSY] = { .name = "map_busy" },
	[RM_TP_WORKER_BUSY] = { .name = "worker_busy" },
	[RM_TP_LOAD_CHUNK] = { .name = "load_chunk" },
	[RM_TP_LOAD_SB] = { .name = "load_sb" },
	[RM_TP_PRERESUME] = { .name = "preresume" },
	[RM_TP_MESSAGE] = { .name = "message" },
	[RM_TP_LOOKUP_ALLOC] = { .name = "lookup_alloc" },
};

static struct dentry *rm_tp_dir;

int rm_tp(enum rm_tp tp, u64 unit, bool atomic)
{
	struct rm_tp_state *p = &points[tp];
	unsigned int delay_ms;
	unsigned long flags;
	int error;

	if (!READ_ONCE(p->count))
		return 0;
	spin_lock_irqsave(&p->lock, flags);
	if (!p->count || (p->unit != U64_MAX && p->unit != unit)) {
		spin_unlock_irqrestore(&p->lock, flags);
		return 0;
	}
	p->count--;
	p->hits++;
	delay_ms = p->delay_ms;
	error = p->error;
	spin_unlock_irqrestore(&p->lock, flags);
	pr_info("dm-remap: test point %s: unit %llu, %u ms, error %d\n",
		p->name, unit, delay_ms, error);
	if (delay_ms) {
		if (atomic)
			mdelay(delay_ms);
		else
			msleep(delay_ms);
	}
	return error;
}

static ssize_t rm_tp_read(struct file *f, char __user *buf, size_t len,
			  loff_t *pos)
{
	struct rm_tp_state *p = f->private_data;
	char out[64];
	int n;

	spin_lock_irq(&p->lock);
	n = scnprintf(out, sizeof(out), "hits=%lu armed=%u\n", p->hits,
		      p->count);
	spin_unlock_irq(&p->lock);
	return simple_read_from_buffer(buf, len, pos, out, n);
}

/* "delay=MS unit=U count=N error=E", any order; "off" disarms. */
static ssize_t rm_tp_write(struct file *f, const char __user *ubuf, size_t len,
			   loff_t *pos)
{
	struct rm_tp_state *p = f->private_data;
	unsigned int delay_ms = 0, count = 1;
	u64 unit = U64_MAX;
	char buf[128], *s = buf, *tok;
	int error = 0;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	while ((tok = strsep(&s, " \t\n"))) {
		if (!*tok)
			continue;
		if (!strcmp(tok, "off"))
			count = 0;
		else if (!strncmp(tok, "delay=", 6)) {
			if (kstrtouint(tok + 6, 10, &delay_ms))
				return -EINVAL;
		} else if (!strncmp(tok, "unit=", 5)) {
			if (kstrtoull(tok + 5, 10, &unit))
				return -EINVAL;
		} else if (!strncmp(tok, "count=", 6)) {
			if (kstrtouint(tok + 6, 10, &count))
				return -EINVAL;
		} else if (!strncmp(tok, "error=", 6)) {
			if (kstrtoint(tok + 6, 10, &error) || error > 0 ||
			    error < -MAX_ERRNO)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
	}
	spin_lock_irq(&p->lock);
	p->delay_ms = delay_ms;
	p->unit = unit;
	p->error = error;
	p->count = count;
	spin_unlock_irq(&p->lock);
	return len;
}

static const struct file_operations rm_tp_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = rm_tp_read,
	.write = rm_tp_write,
	.llseek = default_llseek,
};

int rm_tp_init(void)
{
	int i;

	rm_tp_dir = debugfs_create_dir("dm-remap-test", NULL);
	for (i = 0; i < RM_TP_NR; i++) {
		spin_lock_init(&points[i].lock);
		points[i].unit = U64_MAX;
		debugfs_create_file(points[i].name, 0600, rm_tp_dir, &points[i],
				    &rm_tp_fops);
	}
	pr_warn("dm-remap: test build: test points in debugfs dm-remap-test/\n");
	return 0;
}

void rm_tp_exit(void)
{
	debugfs_remove_recursive(rm_tp_dir);
}
