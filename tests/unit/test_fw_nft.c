/* SPDX-License-Identifier: MIT */
/*
 * fw_nft: the nftables backend against the real kernel, in a network
 * namespace of its own (unshare at the start, so no rule ever lands in the
 * host's ruleset): start builds the table, twice is the same table, grants
 * appear as elements with timeouts (v4, v6, forward, masquerade), revoke
 * removes them, the kernel expires them by itself, stop removes the table,
 * and tables that are not ours are never touched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conf/settings.h"
#include "spa/fw_nft.h"
#include "util/config.h"

static struct nft_ctx *probe_nft;

/* Run ${cmd} through libnftables as a test tool would; return 0 or -1. */
static int nft_do(const char *cmd)
{
	int rc = nft_run_cmd_from_buffer(probe_nft, cmd);

	(void)nft_ctx_get_error_buffer(probe_nft);
	if (rc != 0)
		(void)nft_ctx_get_output_buffer(probe_nft);
	return rc == 0 ? 0 : -1;
}

/* The whole ruleset of this namespace as `nft list ruleset` prints it (static buffer). */
static const char *ruleset(void)
{
	static char buf[65536];
	int rc = nft_run_cmd_from_buffer(probe_nft, "list ruleset");

	(void)nft_ctx_get_error_buffer(probe_nft);
	assert_int_equal(rc, 0);
	snprintf(buf, sizeof(buf), "%s", nft_ctx_get_output_buffer(probe_nft));
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/*
 * The timeout nft prints after "${elem} timeout " ("9m59s998ms", "30s"), in
 * ms; -1 if ${elem} is not listed with one.
 */
static long long timeout_ms(const char *r, const char *elem)
{
	char needle[256];
	const char *p;
	long long total = 0;

	snprintf(needle, sizeof(needle), "%s timeout ", elem);
	p = strstr(r, needle);
	if (!p)
		return -1;
	p += strlen(needle);
	while (*p >= '0' && *p <= '9') {
		char *end;
		long long v = strtoll(p, &end, 10);

		p = end;
		if (strncmp(p, "ms", 2) == 0) {
			total += v;
			p += 2;
		} else if (*p == 's') {
			total += v * 1000;
			p++;
		} else if (*p == 'm') {
			total += v * 60000;
			p++;
		} else if (*p == 'h') {
			total += v * 3600000;
			p++;
		} else if (*p == 'd') {
			total += v * 86400000;
			p++;
		} else {
			return -1;
		}
	}
	return total;
}

/* ${elem} is listed with a timeout in (lo_s - 1 s, lo_s]: the time the grant had left. */
static void assert_timeout(const char *r, const char *elem, long long s)
{
	long long ms = timeout_ms(r, elem);

	if (ms <= (s - 1) * 1000 || ms > s * 1000)
		fail_msg("%s: timeout %lld ms, expected about %lld s in:\n%s", elem, ms, s, r);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void write_sysctl(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, v, strlen(v)), (ssize_t)strlen(v));
	close(fd);
}

static char read_sysctl(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, &c, 1), 1);
	close(fd);
	return c;
}

static struct spa_grant grant_of(const char *src, uint8_t proto, uint16_t port, uint64_t ttl_ms)
{
	struct spa_grant g;

	memset(&g, 0, sizeof(g));
	g.src.family = strchr(src, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(g.src.family, src, g.src.addr), 1);
	g.proto = proto;
	g.port = port;
	g.expires_ms = wall_ms() + ttl_ms;
	snprintf(g.identity, sizeof(g.identity), "alice");
	return g;
}

static void forward_to(struct spa_grant *g, const char *dst, uint16_t port, int masq)
{
	g->has_forward = 1;
	g->forward_addr.family = strchr(dst, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(g->forward_addr.family, dst, g->forward_addr.addr), 1);
	g->forward_port = port;
	g->masquerade = masq;
}

static void *backend_fwd(int ip_forward, int remove_on_exit, int may_forward)
{
	struct fw_nft_config c;
	char err[SPA_GRANT_ERR_MAX] = "";
	void *fw;

	fw_nft_config_defaults(&c);
	c.guard[c.nguard++] = (struct spa_access){SPA_PROTO_TCP, 22};
	c.guard[c.nguard++] = (struct spa_access){SPA_PROTO_TCP, 5001};
	c.guard[c.nguard++] = (struct spa_access){SPA_PROTO_UDP, 53};
	c.ip_forward = ip_forward;
	c.remove_on_exit = remove_on_exit;
	c.may_forward = may_forward;
	fw = fw_nft_new(&c, err);
	assert_non_null(fw);
	assert_int_equal(fw_nft_ops.start(fw, err), 0);
	return fw;
}

static void *backend(int ip_forward, int remove_on_exit)
{
	return backend_fwd(ip_forward, remove_on_exit, 0);
}

static void done(void *fw)
{
	fw_nft_ops.stop(fw);
	fw_nft_free(fw);
}

/* Each test starts from an empty ruleset (it is this namespace's alone). */
static int clean(void **state)
{
	(void)state;
	return nft_do("flush ruleset");
}

static void test_start_stop_leave_other_tables(void **state)
{
	(void)state;
	/* Someone else's tables, one of them with our name in another family. */
	assert_int_equal(nft_do("add table inet other\n"
				"add chain inet other c { type filter hook input priority 0; }\n"
				"add rule inet other c tcp dport 9999 counter\n"
				"add table ip postern\n"
				"add chain ip postern mine\n"),
			 0);
	void *fw = backend(FW_NFT_IPFWD_IGNORE, 1);
	const char *r = ruleset();

	assert_non_null(strstr(r, "table inet postern {"));
	assert_non_null(strstr(r, "tcp . 22"));
	assert_non_null(strstr(r, "udp . 53"));
	assert_non_null(strstr(r, "type filter hook input priority filter; policy accept;"));
	assert_non_null(strstr(r, "iif \"lo\" accept\n"
				  "\t\tct state established,related accept\n"
				  "\t\tip saddr . meta l4proto . th dport @allow4 accept\n"
				  "\t\tip6 saddr . meta l4proto . th dport @allow6 accept\n"
				  "\t\tmeta l4proto . th dport @guard drop"));
	assert_non_null(strstr(r, "type nat hook prerouting priority dstnat; policy accept;"));
	assert_non_null(strstr(r, "dnat ip to ip saddr . meta l4proto . th dport map @dnat4"));
	assert_non_null(strstr(r, "type nat hook postrouting priority srcnat; policy accept;"));
	assert_non_null(strstr(r, "@masq4 masquerade"));
	assert_non_null(strstr(r, "tcp dport 9999 counter"));
	assert_int_equal(count(r, "size 65536\n"), 8);

	done(fw);
	r = ruleset();
	assert_null(strstr(r, "table inet postern"));
	assert_non_null(strstr(r, "table inet other {"));
	assert_non_null(strstr(r, "tcp dport 9999 counter"));
	assert_non_null(strstr(r, "table ip postern {"));
	assert_non_null(strstr(r, "chain mine"));
}

static void test_start_twice_keeps_grants(void **state)
{
	(void)state;
	char err[SPA_GRANT_ERR_MAX] = "";
	void *fw = backend(FW_NFT_IPFWD_IGNORE, 1);
	struct spa_grant g = grant_of("192.0.2.7", SPA_PROTO_TCP, 22, 60000);
	char before[65536];

	assert_int_equal(fw_nft_ops.grant(fw, &g, err), 0);
	snprintf(before, sizeof(before), "%s", ruleset());
	assert_int_equal(fw_nft_ops.start(fw, err), 0);
	const char *r = ruleset();

	assert_int_equal(count(r, "table inet postern {"), 1);
	assert_int_equal(count(r, "@allow4 accept"), 1);
	assert_int_equal(count(r, "@guard drop"), 1);
	assert_int_equal(count(r, "ct state established,related accept"), 2);
	assert_int_equal(count(r, "tcp . 22,"), count(before, "tcp . 22,"));
	/* A restart does not cut a grant the kernel is still timing. */
	assert_non_null(strstr(r, "192.0.2.7 . tcp . 22 timeout"));

	/* A table of our name but another layout is replaced whole. */
	done(fw);
	assert_int_equal(nft_do("add table inet postern\n"
				"add set inet postern allow4 { type ipv4_addr; }\n"),
			 0);
	fw = backend(FW_NFT_IPFWD_IGNORE, 1);
	assert_int_equal(fw_nft_ops.grant(fw, &g, err), 0);
	r = ruleset();
	assert_non_null(strstr(r, "type ipv4_addr . inet_proto . inet_service"));
	assert_non_null(strstr(r, "192.0.2.7 . tcp . 22 timeout"));
	done(fw);
}

static void test_grant_revoke_v4_v6(void **state)
{
	(void)state;
	char err[SPA_GRANT_ERR_MAX] = "";
	void *fw = backend(FW_NFT_IPFWD_IGNORE, 1);
	struct spa_grant g4 = grant_of("198.51.100.9", SPA_PROTO_TCP, 22, 30000);
	struct spa_grant g6 = grant_of("2001:db8::42", SPA_PROTO_UDP, 53, 30000);
	const char *r;

	assert_int_equal(fw_nft_ops.grant(fw, &g4, err), 0);
	assert_int_equal(fw_nft_ops.grant(fw, &g6, err), 0);
	r = ruleset();
	assert_timeout(r, "198.51.100.9 . tcp . 22", 30);
	assert_timeout(r, "2001:db8::42 . udp . 53", 30);

	/* Extending renews the kernel's timeout (a plain `add` would not). */
	g4.expires_ms = wall_ms() + 600000;
	assert_int_equal(fw_nft_ops.grant(fw, &g4, err), 0);
	r = ruleset();
	assert_timeout(r, "198.51.100.9 . tcp . 22", 600);
	assert_int_equal(count(r, "198.51.100.9"), 1);

	assert_int_equal(fw_nft_ops.revoke(fw, &g4, err), 0);
	r = ruleset();
	assert_null(strstr(r, "198.51.100.9"));
	assert_non_null(strstr(r, "2001:db8::42 . udp . 53"));
	assert_int_equal(fw_nft_ops.revoke(fw, &g6, err), 0);
	assert_null(strstr(ruleset(), "2001:db8::42"));
	/* Already gone: not an error. */
	assert_int_equal(fw_nft_ops.revoke(fw, &g6, err), 0);
	done(fw);
}

static void test_forward_and_masquerade(void **state)
{
	(void)state;
	char err[SPA_GRANT_ERR_MAX] = "";
	void *fw;
	struct spa_grant g = grant_of("203.0.113.5", SPA_PROTO_TCP, 5001, 30000);
	struct spa_grant g6 = grant_of("2001:db8::5", SPA_PROTO_TCP, 5001, 30000);
	const char *r;

	forward_to(&g, "10.77.2.2", 80, 1);
	forward_to(&g6, "fd00:77:2::2", 8080, 0);

	/* check: refused while forwarding is off, with a reason that says how. */
	write_sysctl("/proc/sys/net/ipv4/ip_forward", "0");
	fw = backend(FW_NFT_IPFWD_CHECK, 1);
	assert_int_equal(fw_nft_ops.grant(fw, &g, err), -1);
	assert_non_null(strstr(err, "net.ipv4.ip_forward is 0"));
	assert_null(strstr(ruleset(), "203.0.113.5"));
	done(fw);

	/* check at start (some key may forward) only warns; nothing is written. */
	fw = backend_fwd(FW_NFT_IPFWD_CHECK, 1, FW_NFT_FWD_V4);
	assert_int_equal(read_sysctl("/proc/sys/net/ipv4/ip_forward"), '0');
	done(fw);

	/* set: turned on at start for the families keys may forward to ... */
	write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "0");
	fw = backend_fwd(FW_NFT_IPFWD_SET, 1, FW_NFT_FWD_V4);
	assert_int_equal(read_sysctl("/proc/sys/net/ipv4/ip_forward"), '1');
	assert_int_equal(read_sysctl("/proc/sys/net/ipv6/conf/all/forwarding"), '0');
	done(fw);

	/* ... and before a forward grant. */
	write_sysctl("/proc/sys/net/ipv4/ip_forward", "0");
	fw = backend(FW_NFT_IPFWD_SET, 1);
	assert_int_equal(fw_nft_ops.grant(fw, &g, err), 0);
	assert_int_equal(read_sysctl("/proc/sys/net/ipv4/ip_forward"), '1');
	assert_int_equal(fw_nft_ops.grant(fw, &g6, err), 0);
	assert_int_equal(read_sysctl("/proc/sys/net/ipv6/conf/all/forwarding"), '1');
	r = ruleset();
	assert_timeout(r, "203.0.113.5 . tcp . 5001", 30);
	assert_non_null(strstr(r, ": 10.77.2.2 . 80"));
	assert_int_equal(count(r, "203.0.113.5 . 10.77.2.2 . tcp . 80 timeout"), 2); /* fwd, masq */
	assert_timeout(r, "2001:db8::5 . tcp . 5001", 30);
	assert_non_null(strstr(r, ": fd00:77:2::2 . 8080"));
	assert_int_equal(count(r, "2001:db8::5 . fd00:77:2::2 . tcp . 8080"), 1); /* no masq */
	/* A forward grant does not open the port itself on the gateway. */
	assert_int_equal(count(r, "203.0.113.5 . tcp . 5001"), 1); /* the map only */

	/* Renewed without masquerade: the masquerade element goes. */
	g.masquerade = 0;
	assert_int_equal(fw_nft_ops.grant(fw, &g, err), 0);
	assert_int_equal(count(ruleset(), "203.0.113.5 . 10.77.2.2 . tcp . 80 timeout"), 1);

	/* A new target for the same source and port replaces the old one. */
	forward_to(&g, "10.77.2.3", 22, 1);
	assert_int_equal(fw_nft_ops.grant(fw, &g, err), 0);
	r = ruleset();
	assert_null(strstr(r, "10.77.2.2 . 80"));
	assert_non_null(strstr(r, ": 10.77.2.3 . 22"));
	assert_int_equal(count(r, "203.0.113.5 . 10.77.2.3 . tcp . 22 timeout"), 2);

	/* Revoking the old target leaves the new one alone. */
	struct spa_grant old = g;
	forward_to(&old, "10.77.2.2", 80, 1);
	assert_int_equal(fw_nft_ops.revoke(fw, &old, err), 0);
	assert_non_null(strstr(ruleset(), ": 10.77.2.3 . 22"));

	assert_int_equal(fw_nft_ops.revoke(fw, &g, err), 0);
	assert_int_equal(fw_nft_ops.revoke(fw, &g6, err), 0);
	r = ruleset();
	assert_null(strstr(r, "203.0.113.5"));
	assert_null(strstr(r, "2001:db8::5"));
	done(fw);
}

static void test_kernel_expiry(void **state)
{
	(void)state;
	char err[SPA_GRANT_ERR_MAX] = "";
	void *fw = backend(FW_NFT_IPFWD_IGNORE, 1);
	struct spa_grant g = grant_of("192.0.2.99", SPA_PROTO_TCP, 22, 1000);
	struct spa_grant f = grant_of("192.0.2.98", SPA_PROTO_TCP, 5001, 1000);
	int gone = 0;

	forward_to(&f, "10.77.2.2", 80, 1);
	assert_int_equal(fw_nft_ops.grant(fw, &g, err), 0);
	assert_int_equal(fw_nft_ops.grant(fw, &f, err), 0);
	assert_non_null(strstr(ruleset(), "192.0.2.99 . tcp . 22 timeout"));
	/* Nobody revokes: the kernel alone must drop them within about a second. */
	for (int i = 0; i < 30 && !gone; i++) {
		const char *r = ruleset();

		gone = !strstr(r, "192.0.2.99") && !strstr(r, "192.0.2.98");
		if (!gone)
			usleep(100 * 1000);
	}
	assert_true(gone);
	done(fw);
}

static void test_stop_keeps_table_when_configured(void **state)
{
	(void)state;
	void *fw = backend(FW_NFT_IPFWD_IGNORE, 0);

	done(fw);
	assert_non_null(strstr(ruleset(), "table inet postern {"));
}

static void test_list(void **state)
{
	(void)state;
	char err[SPA_GRANT_ERR_MAX] = "";
	char out[16384];
	void *fw = backend(FW_NFT_IPFWD_IGNORE, 1);
	struct spa_grant g = grant_of("192.0.2.1", SPA_PROTO_TCP, 22, 30000);

	assert_int_equal(fw_nft_ops.grant(fw, &g, err), 0);
	assert_int_equal(fw_nft_list(fw, 0, out, sizeof(out), err), 0);
	assert_timeout(out, "192.0.2.1 . tcp . 22", 30);
	assert_non_null(strstr(out, " expires "));
	assert_int_equal(fw_nft_list(fw, 1, out, sizeof(out), err), 0);
	assert_non_null(strstr(out, "\"nftables\""));
	assert_non_null(strstr(out, "\"192.0.2.1\""));
	assert_int_equal(fw_nft_list(fw, 0, out, 16, err), -1);
	done(fw);
	assert_int_equal(
	    fw_nft_list(fw = backend(FW_NFT_IPFWD_IGNORE, 1), 0, out, sizeof(out), err), 0);
	fw_nft_ops.stop(fw);
	assert_int_equal(fw_nft_list(fw, 0, out, sizeof(out), err), -1);
	assert_non_null(strstr(err, "nftables: "));
	fw_nft_free(fw);
}

static void test_refusals(void **state)
{
	(void)state;
	char err[SPA_GRANT_ERR_MAX] = "";
	struct fw_nft_config c;
	struct spa_access a;
	void *fw;

	assert_int_equal(fw_nft_parse_guard("tcp/22", &a, err), 0);
	assert_true(a.proto == SPA_PROTO_TCP && a.port == 22);
	assert_int_equal(fw_nft_parse_guard("udp/65535", &a, err), 0);
	assert_true(a.proto == SPA_PROTO_UDP && a.port == 65535);
	const char *bad[] = {"tcp/0", "tcp/65536", "sctp/1", "tcp/", "tcp/2x", "tcp/-1", "22", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(fw_nft_parse_guard(bad[i], &a, err), -1);
	assert_int_equal(fw_nft_parse_ip_forward("check"), FW_NFT_IPFWD_CHECK);
	assert_int_equal(fw_nft_parse_ip_forward("set"), FW_NFT_IPFWD_SET);
	assert_int_equal(fw_nft_parse_ip_forward("ignore"), FW_NFT_IPFWD_IGNORE);
	assert_int_equal(fw_nft_parse_ip_forward("yes"), -1);

	fw_nft_config_defaults(&c);
	assert_string_equal(c.table, "postern");
	snprintf(c.table, sizeof(c.table), "x; flush ruleset");
	assert_null(fw_nft_new(&c, err));
	assert_non_null(strstr(err, "nft_table"));
	c.table[0] = '\0';
	assert_null(fw_nft_new(&c, err));

	/* The settings table's defaults ([spa] nftables backend) are the backend's. */
	struct config_server srv;
	config_server_defaults(&srv);
	fw_nft_config_defaults(&c);
	assert_string_equal(srv.spa.nft_table, c.table);
	assert_int_equal(srv.spa.nft_remove_on_exit, c.remove_on_exit);
	assert_int_equal(srv.spa.ip_forward, c.ip_forward);
	assert_int_equal(srv.spa.nguard, c.nguard);
	const struct setting *st = settings_find(SETTINGS_SERVER, SETTINGS_IN_SPA, "nft_table");
	assert_non_null(st);
	assert_string_equal(st->def, "postern");
	st = settings_find(SETTINGS_SERVER, SETTINGS_IN_SPA, "nft_remove_on_exit");
	assert_non_null(st);
	assert_string_equal(st->def, "yes");
	st = settings_find(SETTINGS_SERVER, SETTINGS_IN_SPA, "ip_forward");
	assert_non_null(st);
	assert_int_equal(fw_nft_parse_ip_forward(st->def), FW_NFT_IPFWD_CHECK);
	st = settings_find(SETTINGS_SERVER, SETTINGS_IN_SPA, "guard");
	assert_non_null(st);
	assert_null(st->def);
	config_server_free(&srv);

	fw = backend(FW_NFT_IPFWD_IGNORE, 1);
	struct spa_grant g = grant_of("192.0.2.1", SPA_PROTO_TCP, 22, 30000);
	struct spa_grant bad_g = g;
	bad_g.expires_ms = wall_ms() - 1;
	assert_int_equal(fw_nft_ops.grant(fw, &bad_g, err), -1);
	bad_g = g;
	bad_g.proto = 1;
	assert_int_equal(fw_nft_ops.grant(fw, &bad_g, err), -1);
	bad_g = g;
	bad_g.port = 0;
	assert_int_equal(fw_nft_ops.grant(fw, &bad_g, err), -1);
	bad_g = g;
	bad_g.src.family = 0;
	assert_int_equal(fw_nft_ops.grant(fw, &bad_g, err), -1);
	bad_g = g;
	forward_to(&bad_g, "fd00::1", 80, 0);
	assert_int_equal(fw_nft_ops.grant(fw, &bad_g, err), -1);
	assert_non_null(strstr(err, "address family"));
	assert_null(strstr(ruleset(), "192.0.2.1 "));
	done(fw);
}

int main(void)
{
	/* Every rule below lands in a namespace of our own, never the host's. */
	if (unshare(CLONE_NEWNET) != 0) {
		perror("test_fw_nft: unshare(CLONE_NEWNET) (needs root / CAP_SYS_ADMIN)");
		return 1;
	}
	probe_nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!probe_nft || nft_ctx_buffer_output(probe_nft) || nft_ctx_buffer_error(probe_nft))
		return 1;

	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_start_stop_leave_other_tables, clean),
	    cmocka_unit_test_setup(test_start_twice_keeps_grants, clean),
	    cmocka_unit_test_setup(test_grant_revoke_v4_v6, clean),
	    cmocka_unit_test_setup(test_forward_and_masquerade, clean),
	    cmocka_unit_test_setup(test_kernel_expiry, clean),
	    cmocka_unit_test_setup(test_stop_keeps_table_when_configured, clean),
	    cmocka_unit_test_setup(test_list, clean),
	    cmocka_unit_test_setup(test_refusals, clean),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	nft_ctx_free(probe_nft);
	return rc;
}
