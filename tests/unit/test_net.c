/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "util/net.h"

#define PATH107                                                                                    \
	"/tmp/"                                                                                    \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"  \
	"aaaaaaaaaa.sock"
#define PATH108 PATH107 "x"

#define HOST64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HOST255                                                                                    \
	HOST64 HOST64 HOST64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HOST256 HOST255 "a"

struct good_forward {
	const char *spec;
	const char *listen; /* as net_format_endpoint() writes it */
	const char *target;
};

static const struct good_forward good_forwards[] = {
    {"2222:localhost:22", "127.0.0.1:2222", "localhost:22"},
    {"localhost:2222:example.com:22", "localhost:2222", "example.com:22"},
    {"*:2222:host:22", "*:2222", "host:22"},
    {"0.0.0.0:8080:10.0.0.5:80", "0.0.0.0:8080", "10.0.0.5:80"},
    {"[::1]:2222:[::1]:22", "[::1]:2222", "[::1]:22"},
    {"[::]:5432:db.internal:5432", "[::]:5432", "db.internal:5432"},
    {"2222:[2001:db8::1]:22", "127.0.0.1:2222", "[2001:db8::1]:22"},
    {"/tmp/l.sock:host:22", "/tmp/l.sock", "host:22"},
    {"./l.sock:host:22", "./l.sock", "host:22"},
    {"2222:/run/t.sock", "127.0.0.1:2222", "/run/t.sock"},
    {"127.0.0.1:2222:/run/t.sock", "127.0.0.1:2222", "/run/t.sock"},
    {"[::1]:2222:./t.sock", "[::1]:2222", "./t.sock"},
    {"/tmp/a.sock:/tmp/b.sock", "/tmp/a.sock", "/tmp/b.sock"},
    {"/tmp/a[1].sock:/tmp/b].sock", "/tmp/a[1].sock", "/tmp/b].sock"},
    {"65535:h:65535", "127.0.0.1:65535", "h:65535"},
    {"1:h:1", "127.0.0.1:1", "h:1"},
    /* Listen port 0: the kernel picks a free one, which the listener logs. */
    {"0:host:22", "127.0.0.1:0", "host:22"},
    {"[::1]:0:host:22", "[::1]:0", "host:22"},
    {"2222:my_host-1.example.:22", "127.0.0.1:2222", "my_host-1.example.:22"},
    {"2222:192.168.1.1:00022", "127.0.0.1:2222", "192.168.1.1:22"},
    {"2222:" HOST255 ":22", "127.0.0.1:2222", HOST255 ":22"},
    {PATH107 ":h:22", PATH107, "h:22"},
    {"2222:" PATH107, "127.0.0.1:2222", PATH107},
};

struct bad_spec {
	const char *spec;
	const char *why; /* a substring of the message */
};

static const struct bad_spec bad_forwards[] = {
    {"", "expected [bind_address:]port:host:hostport"},
    {"2222", "expected [bind_address:]port:host:hostport in '2222'"},
    {"2222:host", "expected [bind_address:]port:host:hostport in '2222:host'"},
    {"2222:host:abc", "bad port 'abc' in '2222:host:abc'"},
    {"abc:host:22", "bad port 'abc' in 'abc:host:22'"},
    {":0:host:22", "missing host"},
    {"2222:host:0", "bad port '0'"},
    {"65536:host:22", "bad port '65536'"},
    {"2222:host:65536", "bad port '65536'"},
    {"2222:host:99999999999", "bad port '99999999999'"},
    {"2222:host:-1", "bad port '-1'"},
    {"2222:host:+22", "bad port '+22'"},
    {"2222:host: 22", "bad port ' 22'"},
    {"2222:host:22 ", "bad port '22 '"},
    {"2222:host:0x16", "bad port '0x16'"},
    {"2222:host:22\n", "bad port '22?'"},
    {":2222:host:22", "missing host in ':2222:host:22'"},
    {"2222::22", "missing host in '2222::22'"},
    {"2222:host:", "missing port in '2222:host:'"},
    {":host:22", "missing port"},
    {"[::1:2222:host:22", "unbalanced '['"},
    {"::1]:2222:h:22", "unbalanced ']'"},
    {"2222:host]:22", "unbalanced ']'"},
    {"2222:ho[st:22", "unexpected '['"},
    {"[::1]2222:h:22", "expected ':' after ']'"},
    {"2222:[::1:22", "unbalanced '['"},
    {"2222:[[::1]]:22", "unbalanced '['"},
    {"2222:[127.0.0.1]:22", "bad IPv6 address '[127.0.0.1]'"},
    {"2222:[]:22", "bad IPv6 address '[]'"},
    {"2222:[::1%eth0]:22", "bad IPv6 address"},
    {"2222:[host]:22", "bad IPv6 address"},
    {"2222:host:[22]", "bad port '[22]'"},
    {"::1:2222:host:22", "expected [bind_address:]port:host:hostport"},
    {"2222:::1:22", "expected [bind_address:]port:host:hostport"},
    {"a:b:c:d:e", "expected [bind_address:]port:host:hostport"},
    {"2222:host:22:extra", "expected [bind_address:]port:host:hostport"},
    {"2222:2223:host:22", "expected [bind_address:]port:host:hostport"},
    {"2222:ho st:22", "bad character ' ' in host 'ho st'"},
    {"2222:host!:22", "bad character '!'"},
    {"2222:h\x01st:22", "bad character 0x01"},
    {"2222:h\xc3\xa9:22", "bad character 0xc3"},
    {"2222:-host:22", "starts with '-'"},
    {"2222:.host:22", "starts with '.'"},
    {"2222:a..b:22", "empty label"},
    {"2222:1.2.3:22", "bad IPv4 address '1.2.3'"},
    {"2222:0x7f000001:22", "bad IPv4 address"},
    {"2222:256.1.1.1:22", "bad IPv4 address"},
    {"2222:1234:22", "bad IPv4 address"},
    {"2222:*:22", "bad character '*'"},
    {"bad!:2222:h:22", "bad character '!'"},
    {"2222:" HOST256 ":22", "host too long (max 255)"},
    {PATH108 ":h:22", "unix socket path too long (max 107 bytes)"},
    {"2222:" PATH108, "unix socket path too long"},
    {"./:host:22", "unix socket path is a directory"},
    {"/tmp/x/:host:22", "unix socket path is a directory"},
    {"2222:/tmp/x:22", "expected [bind_address:]port:host:hostport"},
    {"/tmp/a.sock:host", "expected [bind_address:]port:host:hostport"},
    {"/tmp/a.sock", "expected [bind_address:]port:host:hostport"},
    {"/tmp/a.sock:/tmp/b.sock:/tmp/c", "expected [bind_address:]port:host:hostport"},
    {"/tmp/a\tb.sock:h:22", "control character"},
    {":::", "missing host"},
    {"[", "unbalanced '['"},
    {"]", "unbalanced ']'"},
};

static void test_forward_good(void **state)
{
	char err[NET_ERR_MAX], buf[512];
	struct net_forward fw;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good_forwards) / sizeof(good_forwards[0]); i++) {
		const struct good_forward *t = &good_forwards[i];
		err[0] = '\0';
		if (net_parse_forward(t->spec, &fw, err) != 0)
			fail_msg("'%s' refused: %s", t->spec, err);
		assert_string_equal(net_format_endpoint(&fw.listen, buf, sizeof(buf)), t->listen);
		assert_string_equal(net_format_endpoint(&fw.target, buf, sizeof(buf)), t->target);
		assert_int_equal(fw.listen.is_unix, t->listen[0] == '/' || t->listen[0] == '.');
		assert_int_equal(fw.target.is_unix, t->target[0] == '/' || t->target[0] == '.');
	}
}

static void test_forward_bad(void **state)
{
	char err[NET_ERR_MAX];
	struct net_forward fw;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_forwards) / sizeof(bad_forwards[0]); i++) {
		const struct bad_spec *t = &bad_forwards[i];
		memset(err, 0, sizeof(err));
		memset(&fw, 0x55, sizeof(fw));
		if (net_parse_forward(t->spec, &fw, err) != -1)
			fail_msg("'%s' accepted", t->spec);
		if (!strstr(err, t->why))
			fail_msg("'%s': message '%s' lacks '%s'", t->spec, err, t->why);
		assert_true(strlen(err) < NET_ERR_MAX);
		assert_int_equal(fw.listen.port, 0);
		assert_int_equal(fw.target.port, 0);
	}
}

static void test_forward_long_inputs(void **state)
{
	char spec[4096], err[NET_ERR_MAX];
	struct net_forward fw;

	(void)state;
	memset(spec, 'x', sizeof(spec) - 1);
	spec[sizeof(spec) - 1] = '\0';
	memcpy(spec, "2222:", 5);
	assert_int_equal(net_parse_forward(spec, &fw, err), -1);
	assert_non_null(strstr(err, "..."));
	memset(spec, ':', sizeof(spec) - 1);
	assert_int_equal(net_parse_forward(spec, &fw, err), -1);
	assert_int_equal(net_parse_forward(NULL, &fw, err), -1);
	assert_int_equal(net_parse_forward("1:h:2", NULL, err), -1);
	assert_int_equal(net_parse_forward("garbage", &fw, NULL), -1);
}

struct hostport_case {
	const char *s;
	const char *default_host;
	int allow_zero;
	const char *host; /* NULL: must fail */
	unsigned port;
	const char *why;
};

static const struct hostport_case hostports[] = {
    {"example.com:22", NULL, 0, "example.com", 22, NULL},
    {"[::1]:22", NULL, 0, "::1", 22, NULL},
    {"[fe80::1:2]:443", NULL, 0, "fe80::1:2", 443, NULL},
    {"22", "127.0.0.1", 0, "127.0.0.1", 22, NULL},
    {"0.0.0.0:0", NULL, 1, "0.0.0.0", 0, NULL},
    {"1.2.3.4:65535", NULL, 0, "1.2.3.4", 65535, NULL},
    {"localhost:1", NULL, 0, "localhost", 1, NULL},
    {"22", NULL, 0, NULL, 0, "missing host in '22'"},
    {"example.com", "x", 0, NULL, 0, "missing port in 'example.com'"},
    {"[::1]", NULL, 0, NULL, 0, "missing port"},
    {"::1:22", NULL, 0, NULL, 0, "too many ':'"},
    {"host:0", NULL, 0, NULL, 0, "bad port '0'"},
    {"0", "h", 0, NULL, 0, "bad port '0'"},
    {"host:65536", NULL, 0, NULL, 0, "bad port '65536'"},
    {"host:abc", NULL, 0, NULL, 0, "bad port 'abc' in 'host:abc'"},
    {":22", NULL, 0, NULL, 0, "missing host"},
    {"host:", NULL, 0, NULL, 0, "missing port"},
    {"", NULL, 0, NULL, 0, "empty address"},
    {"[::1", NULL, 0, NULL, 0, "unbalanced '['"},
    {"*:22", NULL, 0, NULL, 0, "bad character '*'"},
    {"/tmp/x:22", NULL, 0, NULL, 0, "bad character '/'"},
    {"[10.0.0.1]:22", NULL, 0, NULL, 0, "bad IPv6 address"},
    {"22", HOST256, 0, NULL, 0, "default host too long"},
};

static void test_hostport(void **state)
{
	char err[NET_ERR_MAX];
	struct net_endpoint ep;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hostports) / sizeof(hostports[0]); i++) {
		const struct hostport_case *t = &hostports[i];
		int rc;
		err[0] = '\0';
		rc = net_parse_hostport(t->s, &ep, t->default_host, t->allow_zero, err);
		if (t->host) {
			if (rc != 0)
				fail_msg("'%s' refused: %s", t->s, err);
			assert_string_equal(ep.host, t->host);
			assert_int_equal(ep.port, t->port);
			assert_int_equal(ep.is_unix, 0);
			continue;
		}
		if (rc != -1)
			fail_msg("'%s' accepted", t->s);
		if (!strstr(err, t->why))
			fail_msg("'%s': message '%s' lacks '%s'", t->s, err, t->why);
	}
}

static void test_port_and_host_checks(void **state)
{
	char err[NET_ERR_MAX];
	uint16_t port = 7;

	(void)state;
	assert_int_equal(net_parse_port("22", 0, &port, err), 0);
	assert_int_equal(port, 22);
	assert_int_equal(net_parse_port("0", 1, &port, err), 0);
	assert_int_equal(port, 0);
	assert_int_equal(net_parse_port("0", 0, &port, err), -1);
	assert_int_equal(net_parse_port("", 0, &port, err), -1);
	assert_int_equal(net_parse_port("123456", 0, &port, err), -1);
	assert_int_equal(net_check_host("db-1.internal", err), 0);
	assert_int_equal(net_check_host("::1", err), 0);
	assert_int_equal(net_check_host("10.1.2.3", err), 0);
	assert_int_equal(net_check_host("127.1", err), -1);
	assert_int_equal(net_check_host("", err), -1);
	assert_int_equal(net_check_host(NULL, err), -1);
	assert_int_equal(net_check_host(HOST256, err), -1);
}

static void test_host_equal(void **state)
{
	(void)state;
	assert_true(net_host_equal("::1", "0:0::1"));
	assert_true(net_host_equal("::1", "0000:0000:0000:0000:0000:0000:0000:0001"));
	assert_true(net_host_equal("127.0.0.1", "::ffff:127.0.0.1"));
	assert_true(net_host_equal("Example.COM", "example.com"));
	assert_true(net_host_equal("example.com.", "example.com"));
	assert_true(net_host_equal("10.0.0.1", "10.0.0.1"));
	assert_false(net_host_equal("10.0.0.1", "10.0.0.2"));
	assert_false(net_host_equal("a", "b"));
	assert_false(net_host_equal("example.com", "example.co"));
	assert_false(net_host_equal("localhost", "127.0.0.1"));
	assert_false(net_host_equal("::1", "::2"));
	assert_false(net_host_equal(NULL, "a"));
	assert_false(net_host_equal("a", NULL));
	assert_true(net_is_ip_literal("::1"));
	assert_true(net_is_ip_literal("192.0.2.1"));
	assert_false(net_is_ip_literal("localhost"));
	assert_false(net_is_ip_literal("1.2.3"));
	assert_false(net_is_ip_literal(NULL));
}

static void test_format(void **state)
{
	struct net_endpoint ep;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	struct sockaddr_un un;
	char buf[64], tiny[6];

	(void)state;
	memset(&ep, 0, sizeof(ep));
	snprintf(ep.host, sizeof(ep.host), "2001:db8::1");
	ep.port = 443;
	assert_string_equal(net_format_endpoint(&ep, buf, sizeof(buf)), "[2001:db8::1]:443");
	assert_string_equal(net_format_endpoint(&ep, tiny, sizeof(tiny)), "[2001");
	assert_null(net_format_endpoint(&ep, NULL, 10));

	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	in4.sin_port = htons(80);
	inet_pton(AF_INET, "192.0.2.7", &in4.sin_addr);
	assert_string_equal(net_format_sockaddr((struct sockaddr *)&in4, buf, sizeof(buf)),
			    "192.0.2.7:80");
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(22);
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	assert_string_equal(net_format_sockaddr((struct sockaddr *)&in6, buf, sizeof(buf)),
			    "[::1]:22");
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_string_equal(net_format_sockaddr((struct sockaddr *)&un, buf, sizeof(buf)), "unix");
	assert_string_equal(net_format_sockaddr(NULL, buf, sizeof(buf)), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forward_good),
	    cmocka_unit_test(test_forward_bad),
	    cmocka_unit_test(test_forward_long_inputs),
	    cmocka_unit_test(test_hostport),
	    cmocka_unit_test(test_port_and_host_checks),
	    cmocka_unit_test(test_host_equal),
	    cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
