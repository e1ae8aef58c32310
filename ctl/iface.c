// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon.h"
#include "iface.h"
#include "log.h"

/* Records: "IFNAME KEY OLD_VALUE" lines, KEY a path under /proc/sys/net. */
#define REC_MAX		64	/* 4 per interface: room for 16 interfaces */
#define KEY_LEN		96
#define VAL_LEN		16

struct rec {
	char ifname[16];
	char key[KEY_LEN];
	char val[VAL_LEN];
};

struct recs {
	struct rec r[REC_MAX];
	size_t n;
};

static void recs_read(const char *saved, struct recs *rs)
{
	char line[256];
	struct rec *r;
	FILE *f;

	rs->n = 0;
	f = fopen(saved, "re");
	if (!f)
		return;
	while (rs->n < REC_MAX && fgets(line, sizeof(line), f)) {
		r = &rs->r[rs->n];
		if (line[0] == '#' || sscanf(line, "%15s %95s %15s", r->ifname, r->key, r->val) != 3)
			continue;
		rs->n++;
	}
	fclose(f);
}

static int recs_write(const char *saved, const struct recs *rs)
{
	char text[REC_MAX * 140] = "# xlbd: values that attach changed, restored by detach\n";
	size_t len = strlen(text);

	if (!rs->n)
		return unlink(saved) && errno != ENOENT ? -errno : 0;
	for (size_t i = 0; i < rs->n; i++)
		len += snprintf(text + len, sizeof(text) - len, "%s %s %s\n", rs->r[i].ifname,
				rs->r[i].key, rs->r[i].val);
	return state_write(saved, text, len);
}

static int read_value(const char *key, char *val, size_t len)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/%s", key);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(val, len, f))
		val[0] = '\0';
	fclose(f);
	val[strcspn(val, "\n")] = '\0';
	return 0;
}

static int write_value(const char *key, const char *val)
{
	char path[160];
	int err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/%s", key);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	if (fputs(val, f) < 0)
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* Set key to val; a changed value goes into rs (unless recorded already). */
static bool set(struct recs *rs, const char *ifname, const char *fmt, const char *val)
{
	char key[KEY_LEN], old[VAL_LEN];
	struct rec *r;
	int err;

	snprintf(key, sizeof(key), fmt, ifname);
	if (read_value(key, old, sizeof(old)))
		return false;	/* no such knob on this kernel */
	if (!strcmp(old, val))
		return false;
	err = write_value(key, val);
	if (err) {
		pr_warn("cannot set net/%s to %s: %s\n", key, val, strerror(-err));
		return false;
	}
	pr_info("set net/%s = %s (was %s)\n", key, val, old);
	for (size_t i = 0; i < rs->n; i++)
		if (!strcmp(rs->r[i].key, key))
			return false;
	if (rs->n == REC_MAX) {
		pr_warn("net/%s: too many values to remember, detach will not restore it\n", key);
		return false;
	}
	r = &rs->r[rs->n++];
	snprintf(r->ifname, sizeof(r->ifname), "%s", ifname);
	snprintf(r->key, sizeof(r->key), "%s", key);
	snprintf(r->val, sizeof(r->val), "%s", old);
	return true;
}

int iface_prepare(const char *ifname, const char *saved)
{
	struct recs *rs = malloc(sizeof(*rs));
	bool changed = false;
	int err = 0;

	if (!rs)
		return -ENOMEM;
	recs_read(saved, rs);
	changed |= set(rs, ifname, "ipv4/conf/%s/forwarding", "1");
	changed |= set(rs, ifname, "ipv4/conf/%s/accept_local", "1");
	changed |= set(rs, ifname, "ipv6/conf/%s/forwarding", "1");
	/*
	 * IPv6 forwards only with forwarding on for the whole host, except on
	 * interfaces with force_forwarding (Linux 6.17+): set where it exists.
	 */
	changed |= set(rs, ifname, "ipv6/conf/%s/force_forwarding", "1");
	if (changed)
		err = recs_write(saved, rs);
	if (err)
		pr_warn("cannot record the old values in %s: %s\n", saved, strerror(-err));
	free(rs);
	return err;
}

int iface_set(const char *ifname, const char *saved, const char *fmt, const char *val)
{
	struct recs *rs = malloc(sizeof(*rs));
	int err = 0;

	if (!rs)
		return -ENOMEM;
	recs_read(saved, rs);
	if (set(rs, ifname, fmt, val))
		err = recs_write(saved, rs);
	if (err)
		pr_warn("cannot record the old values in %s: %s\n", saved, strerror(-err));
	free(rs);
	return err;
}

/* Restore and drop the records of every interface that `match` selects. */
static int restore(const char *saved, bool (*match)(const char *ifname, void *ctx), void *ctx)
{
	struct recs *rs = malloc(sizeof(*rs));
	size_t kept = 0, n;
	int err;

	if (!rs)
		return -ENOMEM;
	recs_read(saved, rs);
	n = rs->n;
	for (size_t i = 0; i < n; i++) {
		struct rec *r = &rs->r[i];

		if (!match(r->ifname, ctx)) {
			rs->r[kept++] = *r;
			continue;
		}
		/* Gone with its interface: nothing to restore. */
		err = write_value(r->key, r->val);
		if (err && err != -ENOENT)
			pr_warn("cannot restore net/%s to %s: %s\n", r->key, r->val, strerror(-err));
		else if (!err)
			pr_info("restored net/%s = %s\n", r->key, r->val);
	}
	rs->n = kept;
	err = kept == n ? 0 : recs_write(saved, rs);
	free(rs);
	return err;
}

static bool same_name(const char *ifname, void *ctx)
{
	return !strcmp(ifname, ctx);
}

int iface_restore(const char *ifname, const char *saved)
{
	return restore(saved, same_name, (void *)ifname);
}

struct others {
	bool (*attached)(const char *ifname, void *ctx);
	void *ctx;
};

static bool not_attached(const char *ifname, void *ctx)
{
	struct others *o = ctx;

	return !o->attached(ifname, o->ctx);
}

void iface_restore_others(const char *saved, bool (*attached)(const char *ifname, void *ctx),
			  void *ctx)
{
	struct others o = { attached, ctx };

	restore(saved, not_attached, &o);
}
