/* SPDX-License-Identifier: MIT */
#define LOG_COMPONENT "nftables"
#include "spa/fw_nft.h"
#include "util/clock.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

/* The longest command we build: the table definition with a full guard list. */
enum { FW_NFT_CMD_MAX = 8192, FW_NFT_REVOKE_MS = 1000 };

static const char IPV4_FORWARD[] = "/proc/sys/net/ipv4/ip_forward";
static const char IPV6_FORWARD[] = "/proc/sys/net/ipv6/conf/all/forwarding";

struct fw_nft {
	struct fw_nft_config c;
	struct nft_ctx *nft;
	char cmd[FW_NFT_CMD_MAX];
	size_t len;
	int overflow;
};

static void set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err, SPA_GRANT_ERR_MAX, fmt, ap);
	va_end(ap);
}

void fw_nft_config_defaults(struct fw_nft_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->table, sizeof(c->table), "postern");
	c->remove_on_exit = 1;
	c->ip_forward = FW_NFT_IPFWD_CHECK;
}

int fw_nft_parse_guard(const char *word, struct spa_access *out, char *err)
{
	const char *p = word;
	char *end;
	unsigned long port;

	if (strncmp(p, "tcp/", 4) == 0)
		out->proto = SPA_PROTO_TCP;
	else if (strncmp(p, "udp/", 4) == 0)
		out->proto = SPA_PROTO_UDP;
	else {
		set_err(err, "guard '%s': expected tcp/PORT or udp/PORT", word);
		return -1;
	}
	p += 4;
	if (!isdigit((unsigned char)*p)) {
		set_err(err, "guard '%s': expected a port number after the '/'", word);
		return -1;
	}
	errno = 0;
	port = strtoul(p, &end, 10);
	if (errno || *end || port < 1 || port > 65535) {
		set_err(err, "guard '%s': port must be 1..65535", word);
		return -1;
	}
	out->port = (uint16_t)port;
	return 0;
}

int fw_nft_parse_ip_forward(const char *word)
{
	if (strcmp(word, "check") == 0)
		return FW_NFT_IPFWD_CHECK;
	if (strcmp(word, "set") == 0)
		return FW_NFT_IPFWD_SET;
	if (strcmp(word, "ignore") == 0)
		return FW_NFT_IPFWD_IGNORE;
	return -1;
}

int fw_nft_check_table(const char *name, char *err)
{
	size_t n = strlen(name);

	/* The name is pasted into command text: a plain word cannot change its meaning. */
	if (n < 1 || n > FW_NFT_TABLE_MAX) {
		set_err(err, "nft_table '%s': 1..%d characters", name, FW_NFT_TABLE_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '_') {
			set_err(err, "nft_table '%s': letters, digits and '_' only", name);
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* command text */

static void cmd_reset(struct fw_nft *fw)
{
	fw->len = 0;
	fw->overflow = 0;
	fw->cmd[0] = '\0';
}

static void cmd_add(struct fw_nft *fw, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cmd_add(struct fw_nft *fw, const char *fmt, ...)
{
	va_list ap;
	size_t room = sizeof(fw->cmd) - fw->len;
	int n;

	if (fw->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(fw->cmd + fw->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		fw->overflow = 1;
		return;
	}
	fw->len += (size_t)n;
}

/* The first line of libnftables' error text ("Error: ...: No such file or directory"). */
static void nft_error(struct fw_nft *fw, char *err)
{
	const char *e = nft_ctx_get_error_buffer(fw->nft);
	size_t n;

	if (strncmp(e, "Error: ", 7) == 0)
		e += 7;
	n = strcspn(e, "\n");
	if (n == 0) {
		set_err(err, "nftables: command failed");
		return;
	}
	set_err(err, "nftables: %.*s", (int)n, e);
}

/* Run the built command as one transaction: all of it applies, or none. */
static int cmd_run(struct fw_nft *fw, char *err)
{
	int rc;

	if (fw->overflow) {
		set_err(err, "nftables: command longer than %d bytes", FW_NFT_CMD_MAX);
		return -1;
	}
	rc = nft_run_cmd_from_buffer(fw->nft, fw->cmd);
	if (rc != 0)
		nft_error(fw, err);
	/* Reading a buffer rewinds it, so the next command starts clean. */
	(void)nft_ctx_get_error_buffer(fw->nft);
	(void)nft_ctx_get_output_buffer(fw->nft);
	return rc == 0 ? 0 : -1;
}

static const char *proto_name(uint8_t proto)
{
	return proto == SPA_PROTO_TCP ? "tcp" : "udp";
}

static int fmt_addr(const struct spa_addr *a, char *buf, size_t size)
{
	if (a->family != AF_INET && a->family != AF_INET6)
		return -1;
	return inet_ntop(a->family, a->addr, buf, (socklen_t)size) ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* the table */

/* The kernel holds at most this many grants per set, whatever the grant table allows. */
#define SET_OPTS "flags timeout; size 65536;"
_Static_assert(FW_NFT_SET_SIZE == 65536, "SET_OPTS names FW_NFT_SET_SIZE");

static const char *const SETS[] = {
    "set allow4 { type ipv4_addr . inet_proto . inet_service; " SET_OPTS " }",
    "set allow6 { type ipv6_addr . inet_proto . inet_service; " SET_OPTS " }",
    "map dnat4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; " SET_OPTS
    " }",
    "map dnat6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; " SET_OPTS
    " }",
    "set fwd4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service; " SET_OPTS " }",
    "set fwd6 { type ipv6_addr . ipv6_addr . inet_proto . inet_service; " SET_OPTS " }",
    "set masq4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service; " SET_OPTS " }",
    "set masq6 { type ipv6_addr . ipv6_addr . inet_proto . inet_service; " SET_OPTS " }",
};

struct chain_def {
	const char *name, *hook;
	const char *rules[6];
};

/*
 * Input: loopback first (the gateway's own programs do not knock), then
 * established flows, so a grant's expiry never cuts a live connection;
 * then the grants; then the guarded ports drop (no RST, no ICMP: the port
 * looks filtered). Prerouting: a granted forward is DNATed; a miss
 * in the map leaves the packet alone. Forward and postrouting accept and
 * masquerade exactly the granted (source, target) flows.
 */
static const struct chain_def CHAINS[] = {
    {"input",
     "type filter hook input priority filter; policy accept;",
     {"iif \"lo\" accept", "ct state established,related accept",
      "ip saddr . meta l4proto . th dport @allow4 accept",
      "ip6 saddr . meta l4proto . th dport @allow6 accept", "meta l4proto . th dport @guard drop",
      NULL}},
    {"prerouting",
     "type nat hook prerouting priority dstnat; policy accept;",
     {"dnat ip to ip saddr . meta l4proto . th dport map @dnat4",
      "dnat ip6 to ip6 saddr . meta l4proto . th dport map @dnat6", NULL}},
    {"forward",
     "type filter hook forward priority filter; policy accept;",
     {"ct state established,related accept",
      "ct status dnat ip saddr . ip daddr . meta l4proto . th dport @fwd4 accept",
      "ct status dnat ip6 saddr . ip6 daddr . meta l4proto . th dport @fwd6 accept", NULL}},
    {"postrouting",
     "type nat hook postrouting priority srcnat; policy accept;",
     {"ip saddr . ip daddr . meta l4proto . th dport @masq4 masquerade",
      "ip6 saddr . ip6 daddr . meta l4proto . th dport @masq6 masquerade", NULL}},
};

static void add_guard_elements(struct fw_nft *fw)
{
	if (fw->c.nguard == 0)
		return;
	cmd_add(fw, "add element inet %s guard { ", fw->c.table);
	for (unsigned i = 0; i < fw->c.nguard; i++)
		cmd_add(fw, "%s%s . %u", i ? ", " : "", proto_name(fw->c.guard[i].proto),
			fw->c.guard[i].port);
	cmd_add(fw, " }\n");
}

/*
 * `add` forms on an existing table keep its sets' elements: a restarted
 * server (nft_remove_on_exit = no, or a crash) does not cut off grants the
 * kernel is still timing. The guard list and the rules are rewritten.
 */
static void build_update(struct fw_nft *fw)
{
	const char *t = fw->c.table;

	cmd_reset(fw);
	cmd_add(fw, "add table inet %s\n", t);
	cmd_add(fw, "add set inet %s guard { type inet_proto . inet_service; }\n", t);
	cmd_add(fw, "flush set inet %s guard\n", t);
	add_guard_elements(fw);
	for (size_t i = 0; i < sizeof(SETS) / sizeof(SETS[0]); i++)
		cmd_add(fw, "add %.*s inet %s %s\n", (int)strcspn(SETS[i], " "), SETS[i], t,
			SETS[i] + strcspn(SETS[i], " ") + 1);
	for (size_t i = 0; i < sizeof(CHAINS) / sizeof(CHAINS[0]); i++) {
		const struct chain_def *ch = &CHAINS[i];

		cmd_add(fw, "add chain inet %s %s { %s }\n", t, ch->name, ch->hook);
		cmd_add(fw, "flush chain inet %s %s\n", t, ch->name);
		for (size_t r = 0; ch->rules[r]; r++)
			cmd_add(fw, "add rule inet %s %s %s\n", t, ch->name, ch->rules[r]);
	}
}

/* When the existing table does not fit (another layout, another hook): replace it whole. */
static void build_replace(struct fw_nft *fw)
{
	size_t len;
	char *body;

	build_update(fw);
	len = fw->len;
	body = malloc(len + 1);
	if (!body) {
		fw->overflow = 1;
		return;
	}
	memcpy(body, fw->cmd, len + 1);
	cmd_reset(fw);
	/* `add` first makes the delete succeed whether or not the table exists. */
	cmd_add(fw, "add table inet %s\ndelete table inet %s\n%s", fw->c.table, fw->c.table, body);
	free(body);
}

/* ------------------------------------------------------------------ */
/* ip_forward */

static int read_flag(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, &c, 1);
	close(fd);
	return n == 1 ? c != '0' : -1;
}

static int write_one(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, "1\n", 2);
	return (close(fd) == 0 && n == 2) ? 0 : -1;
}

/* 0 when forwarding for ${family} is on (or turned on, or ignored); -1 with ${err}. */
static int forwarding_ready(const struct fw_nft *fw, int family, char *err)
{
	const char *path = family == AF_INET6 ? IPV6_FORWARD : IPV4_FORWARD;
	const char *name =
	    family == AF_INET6 ? "net.ipv6.conf.all.forwarding" : "net.ipv4.ip_forward";
	int on;

	if (fw->c.ip_forward == FW_NFT_IPFWD_IGNORE)
		return 0;
	on = read_flag(path);
	if (on == 1)
		return 0;
	if (fw->c.ip_forward == FW_NFT_IPFWD_SET) {
		if (write_one(path) == 0)
			return 0;
		set_err(err, "cannot turn on %s (%s): %s", name, path, strerror(errno));
		return -1;
	}
	if (on < 0)
		set_err(err, "forward access refused: cannot read %s (%s)", name, path);
	else
		set_err(err, "forward access refused: %s is 0 (ip_forward = set turns it on)",
			name);
	return -1;
}

/* ------------------------------------------------------------------ */
/* grants */

struct grant_text {
	char fam; /* '4' or '6' */
	char src[INET6_ADDRSTRLEN];
	char fwd[INET6_ADDRSTRLEN];
	const char *proto;
};

static int grant_text(const struct spa_grant *g, struct grant_text *t, char *err)
{
	if (g->proto != SPA_PROTO_TCP && g->proto != SPA_PROTO_UDP) {
		set_err(err, "grant: protocol %u is neither tcp nor udp", g->proto);
		return -1;
	}
	if (g->port == 0 || (g->has_forward && g->forward_port == 0)) {
		set_err(err, "grant: port 0");
		return -1;
	}
	if (fmt_addr(&g->src, t->src, sizeof(t->src)) != 0) {
		set_err(err, "grant: source address family %d", g->src.family);
		return -1;
	}
	t->fam = g->src.family == AF_INET6 ? '6' : '4';
	t->proto = proto_name(g->proto);
	t->fwd[0] = '\0';
	if (!g->has_forward)
		return 0;
	if (g->forward_addr.family != g->src.family ||
	    fmt_addr(&g->forward_addr, t->fwd, sizeof(t->fwd)) != 0) {
		set_err(err,
			"grant: forward target must be of the source's address family (no NAT64)");
		return -1;
	}
	return 0;
}

/*
 * Set ${elem} (key, then optional " : data") with a fresh timeout. `add` does
 * not renew the timeout of an element that exists, so: add (creates it if
 * missing), delete (it exists now), add again with the new timeout, all in
 * the caller's one transaction, so the port never closes in between.
 */
static void elem_upsert(struct fw_nft *fw, const char *set, const char *key, const char *data,
			uint64_t ms)
{
	for (int i = 0; i < 3; i++) {
		if (i == 1) {
			cmd_add(fw, "delete element inet %s %s { %s }\n", fw->c.table, set, key);
			continue;
		}
		cmd_add(fw, "add element inet %s %s { %s timeout %llums%s%s }\n", fw->c.table, set,
			key, (unsigned long long)ms, data ? " : " : "", data ? data : "");
	}
}

/* Remove ${key} whether it exists or not (the add makes the delete always succeed). */
static void elem_remove(struct fw_nft *fw, const char *set, const char *key, const char *data)
{
	cmd_add(fw, "add element inet %s %s { %s timeout %dms%s%s }\n", fw->c.table, set, key,
		FW_NFT_REVOKE_MS, data ? " : " : "", data ? data : "");
	cmd_add(fw, "delete element inet %s %s { %s }\n", fw->c.table, set, key);
}

struct grant_keys {
	char set[8], key[96];	     /* the input grant or the DNAT key */
	char data[64];		     /* DNAT target */
	char flow_set[8], flow[160]; /* fwd / masq key: source . target . proto . port */
	char masq_set[8];
};

static void grant_keys(const struct spa_grant *g, const struct grant_text *t, struct grant_keys *k)
{
	snprintf(k->key, sizeof(k->key), "%s . %s . %u", t->src, t->proto, g->port);
	snprintf(k->set, sizeof(k->set), "%s%c", g->has_forward ? "dnat" : "allow", t->fam);
	if (!g->has_forward)
		return;
	snprintf(k->data, sizeof(k->data), "%s . %u", t->fwd, g->forward_port);
	snprintf(k->flow, sizeof(k->flow), "%s . %s . %s . %u", t->src, t->fwd, t->proto,
		 g->forward_port);
	snprintf(k->flow_set, sizeof(k->flow_set), "fwd%c", t->fam);
	snprintf(k->masq_set, sizeof(k->masq_set), "masq%c", t->fam);
}

static int nft_start(void *ctx, char *err)
{
	struct fw_nft *fw = ctx;
	char why[SPA_GRANT_ERR_MAX];

	build_update(fw);
	if (cmd_run(fw, why) != 0) {
		log_info("table does not fit, replacing it table=%s reason=%s", fw->c.table,
			 log_q(why));
		build_replace(fw);
		if (cmd_run(fw, err) != 0)
			return -1;
	}
	if (!fw->c.may_forward)
		return 0;
	/* Say so now, not at the first forward knock; a refusal still comes per grant. */
	for (int i = 0; i < 2; i++) {
		int family = i ? AF_INET6 : AF_INET;

		if (!(fw->c.may_forward & (i ? FW_NFT_FWD_V6 : FW_NFT_FWD_V4)))
			continue;
		if (forwarding_ready(fw, family, why) != 0)
			log_warn("forwarding not ready reason=%s", log_q(why));
	}
	return 0;
}

static int nft_grant(void *ctx, const struct spa_grant *g, char *err)
{
	struct fw_nft *fw = ctx;
	struct grant_text t;
	struct grant_keys k;
	uint64_t now = clock_wall_ms();
	uint64_t ms;

	if (grant_text(g, &t, err) != 0)
		return -1;
	if (g->expires_ms <= now) {
		set_err(err, "grant: already expired");
		return -1;
	}
	ms = g->expires_ms - now;
	if (g->has_forward && forwarding_ready(fw, g->src.family, err) != 0)
		return -1;
	grant_keys(g, &t, &k);
	for (int attempt = 0; attempt < 2; attempt++) {
		cmd_reset(fw);
		/* The map holds one target per key: a new target replaces the old one. */
		if (attempt == 1)
			cmd_add(fw, "delete element inet %s %s { %s }\n", fw->c.table, k.set,
				k.key);
		elem_upsert(fw, k.set, k.key, g->has_forward ? k.data : NULL, ms);
		if (g->has_forward) {
			elem_upsert(fw, k.flow_set, k.flow, NULL, ms);
			if (g->masquerade)
				elem_upsert(fw, k.masq_set, k.flow, NULL, ms);
			else
				elem_remove(fw, k.masq_set, k.flow, NULL);
		}
		if (cmd_run(fw, err) == 0)
			return 0;
		if (!g->has_forward)
			return -1;
	}
	return -1;
}

static int nft_revoke(void *ctx, const struct spa_grant *g, char *err)
{
	struct fw_nft *fw = ctx;
	struct grant_text t;
	struct grant_keys k;

	if (grant_text(g, &t, err) != 0)
		return -1;
	grant_keys(g, &t, &k);
	cmd_reset(fw);
	elem_remove(fw, k.set, k.key, g->has_forward ? k.data : NULL);
	if (g->has_forward) {
		elem_remove(fw, k.flow_set, k.flow, NULL);
		elem_remove(fw, k.masq_set, k.flow, NULL);
	}
	if (cmd_run(fw, err) == 0)
		return 0;
	if (!g->has_forward)
		return -1;
	/* The DNAT key maps to another target now: another grant's element; leave it. */
	cmd_reset(fw);
	elem_remove(fw, k.flow_set, k.flow, NULL);
	elem_remove(fw, k.masq_set, k.flow, NULL);
	return cmd_run(fw, err);
}

static void nft_stop(void *ctx)
{
	struct fw_nft *fw = ctx;
	char err[SPA_GRANT_ERR_MAX];

	if (!fw->c.remove_on_exit)
		return;
	cmd_reset(fw);
	cmd_add(fw, "add table inet %s\ndelete table inet %s\n", fw->c.table, fw->c.table);
	if (cmd_run(fw, err) != 0)
		log_warn("cannot remove table table=%s error=%s", fw->c.table, log_q(err));
}

int fw_nft_list(void *ctx, int json, char *out, size_t size, char *err)
{
	struct fw_nft *fw = ctx;
	unsigned flags = nft_ctx_output_get_flags(fw->nft);
	const char *text;
	size_t n;
	int rc;

	cmd_reset(fw);
	cmd_add(fw, "list table inet %s", fw->c.table);
	if (json)
		nft_ctx_output_set_flags(fw->nft, flags | NFT_CTX_OUTPUT_JSON);
	rc = nft_run_cmd_from_buffer(fw->nft, fw->cmd);
	nft_ctx_output_set_flags(fw->nft, flags);
	if (rc != 0) {
		nft_error(fw, err);
		(void)nft_ctx_get_output_buffer(fw->nft);
		return -1;
	}
	(void)nft_ctx_get_error_buffer(fw->nft);
	text = nft_ctx_get_output_buffer(fw->nft);
	n = strlen(text);
	if (n >= size) {
		set_err(err, "nftables: listing of %zu bytes does not fit in %zu", n, size);
		return -1;
	}
	memcpy(out, text, n + 1);
	return 0;
}

void *fw_nft_new(const struct fw_nft_config *c, char *err)
{
	struct fw_nft *fw;

	if (fw_nft_check_table(c->table, err) != 0)
		return NULL;
	if (c->nguard > FW_NFT_GUARD_MAX) {
		set_err(err, "guard: at most %d entries", FW_NFT_GUARD_MAX);
		return NULL;
	}
	for (unsigned i = 0; i < c->nguard; i++) {
		const struct spa_access *a = &c->guard[i];

		if ((a->proto != SPA_PROTO_TCP && a->proto != SPA_PROTO_UDP) || a->port == 0) {
			set_err(err, "guard entry %u: not tcp/N or udp/N", i + 1);
			return NULL;
		}
	}
	fw = calloc(1, sizeof(*fw));
	if (!fw) {
		set_err(err, "out of memory");
		return NULL;
	}
	fw->c = *c;
	fw->nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!fw->nft || nft_ctx_buffer_output(fw->nft) != 0 || nft_ctx_buffer_error(fw->nft) != 0) {
		set_err(err, "nftables: cannot create a libnftables context");
		fw_nft_free(fw);
		return NULL;
	}
	return fw;
}

void fw_nft_free(void *ctx)
{
	struct fw_nft *fw = ctx;

	if (!fw)
		return;
	if (fw->nft)
		nft_ctx_free(fw->nft);
	free(fw);
}

const struct spa_backend_ops fw_nft_ops = {
    .name = "nftables",
    .start = nft_start,
    .grant = nft_grant,
    /* The element's kernel timeout must move with the grant. */
    .extend = nft_grant,
    .revoke = nft_revoke,
    .stop = nft_stop,
};
