// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "tracecli.h"
#include "tracer.h"

#define LINE_MAX_BYTES	4096

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

/* The classic pcap format (microseconds, Ethernet): what every reader takes. */
struct pcap_hdr {
	uint32_t magic, version;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};

struct pcap_rec {
	uint32_t sec, usec, caplen, len;
};

static int pcap_open(const char *path, FILE **f)
{
	struct pcap_hdr h = {0xa1b2c3d4, 2 | 4 << 16, 0, 0, 65535, 1};

	*f = fopen(path, "wb");
	if (!*f)
		return -errno;
	if (fwrite(&h, sizeof(h), 1, *f) != 1)
		return -EIO;
	return 0;
}

/* "\x01P rx|tx EPOCH_NS ORIG_LEN HEX" */
static int pcap_write(FILE *f, const char *line)
{
	unsigned char pkt[4096];
	unsigned long long ns;
	unsigned int len, n = 0, byte;
	struct pcap_rec r;
	const char *hex;
	char dir[4];

	if (sscanf(line + 2, "%3s %llu %u", dir, &ns, &len) != 3)
		return -EINVAL;
	hex = strrchr(line, ' ');
	if (!hex)
		return -EINVAL;
	for (hex++; n < sizeof(pkt) && sscanf(hex, "%2x", &byte) == 1; hex += 2)
		pkt[n++] = byte;
	r.sec = ns / 1000000000;
	r.usec = ns % 1000000000 / 1000;
	r.caplen = n;
	r.len = len;
	if (fwrite(&r, sizeof(r), 1, f) != 1 || fwrite(pkt, 1, n, f) != n)
		return -EIO;
	return 0;
}

static void summary(bool json, const char *line)
{
	unsigned long long events = 0, budget = 0, full = 0, client = 0;

	if (line)
		sscanf(line + 2, "%llu %llu %llu %llu", &events, &budget, &full, &client);
	if (json) {
		printf("{\"events\": %llu, \"lost_budget\": %llu, \"lost_ring_full\": %llu, "
		       "\"lost_client_slow\": %llu}\n", events, budget, full, client);
		fflush(stdout);
		return;
	}
	fprintf(stderr, "trace: %llu events; lost: %llu over the per-CPU budget, %llu with the "
		"ring buffer full, %llu with xlbctl too slow\n", events, budget, full, client);
}

int tracecli_run(int fd, bool json, const char *path)
{
	struct sigaction sa = {.sa_handler = on_signal};
	char *buf = malloc(LINE_MAX_BYTES * 4), *nl, *last = NULL;
	size_t len = 0, off;
	bool header = false;
	const char *body;
	size_t body_len;
	FILE *pcap = NULL;
	int status = 0, err;
	ssize_t n;

	if (!buf)
		return 1;
	if (path) {
		err = pcap_open(path, &pcap);
		if (err) {
			fprintf(stderr, "xlbctl: cannot write %s: %s\n", path, strerror(-err));
			status = 1;
			goto out;
		}
	}
	/* No SA_RESTART: the read below must return on Ctrl-C. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop) {
		n = read(fd, buf + len, LINE_MAX_BYTES * 4 - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
		if (!header) {
			nl = memchr(buf, '\n', len);
			if (!nl)
				continue;
			header = true;
			if (proto_reply_decode(buf, nl + 1 - buf, &status, &body, &body_len)) {
				fprintf(stderr, "xlbctl: malformed reply from xlbd\n");
				status = 1;
				goto out;
			}
			off = nl + 1 - buf;
			memmove(buf, buf + off, len - off);
			len -= off;
			if (status) {
				/* Refused: the rest is the error, as for any command. */
				while ((n = read(fd, buf + len, LINE_MAX_BYTES * 4 - 1 - len)) > 0)
					len += n;
				fwrite(buf, 1, len, json ? stdout : stderr);
				goto out;
			}
		}
		for (off = 0; (nl = memchr(buf + off, '\n', len - off)); off = nl + 1 - buf) {
			*nl = '\0';
			if (buf[off] != TRACER_MARK) {
				printf("%s\n", buf + off);
			} else if (buf[off + 1] == 'S') {
				free(last);
				last = strdup(buf + off);
			} else if (buf[off + 1] == 'P' && pcap && pcap_write(pcap, buf + off)) {
				fprintf(stderr, "xlbctl: cannot write %s\n", path);
				status = 1;
				goto out;
			}
		}
		fflush(stdout);
		memmove(buf, buf + off, len - off);
		len -= off;
		if (len == LINE_MAX_BYTES * 4 - 1)
			len = 0; /* a line longer than any xlbd writes: skip it */
	}
	if (!header) {
		fprintf(stderr, "xlbctl: xlbd closed the connection without a reply\n");
		status = 1;
		goto out;
	}
	summary(json, last);
out:
	if (pcap && fclose(pcap) && !status) {
		fprintf(stderr, "xlbctl: cannot write %s: %s\n", path, strerror(errno));
		status = 1;
	}
	free(last);
	free(buf);
	return status;
}
