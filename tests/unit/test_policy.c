/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/policy.h"
#include "conf/client.h"
#include "conf/server.h"
#include "guard/permit.h"
#include "util/config.h"

#define GOLDEN "tests/unit/access_matrix.golden"

/* Every key the tables below ask about; each stanza shows one rule. */
static const char policy_conf[] = "[server]\n"
				  "listen = 127.0.0.1:7000\n"
				  "\n"
				  "[key cidr]\n"
				  "key_file = /k/cidr\n"
				  "permit_open = 10.0.0.0/8:443\n"
				  "permit_open = [2001:db8::/32]:*\n"
				  "permit_open = 192.168.1.128/25:22\n"
				  "permit_open = [::ffff:172.16.0.0/108]:25\n"
				  "\n"
				  "[key names]\n"
				  "key_file = /k/names\n"
				  "permit_open = db.internal:5432\n"
				  "permit_open = Example.COM:*\n"
				  "permit_open = *:80\n"
				  "permit_open = 127.0.0.1:22\n"
				  "permit_open = [::1]:5432\n"
				  "\n"
				  "[key any]\n"
				  "key_file = /k/any\n"
				  "permit_open = any\n"
				  "\n"
				  "[key none]\n"
				  "key_file = /k/none\n"
				  "\n"
				  "[key local]\n"
				  "key_file = /k/local\n"
				  "allow_forwarding = local\n"
				  "permit_open = h:1\n"
				  "permit_listen = any\n"
				  "\n"
				  "[key remote]\n"
				  "key_file = /k/remote\n"
				  "allow_forwarding = remote\n"
				  "permit_open = any\n"
				  "permit_listen = 8080\n"
				  "\n"
				  "[key off]\n"
				  "key_file = /k/off\n"
				  "allow_forwarding = no\n"
				  "permit_open = any\n"
				  "permit_listen = any\n"
				  "\n"
				  "[key l_server]\n"
				  "key_file = /k/l_server\n"
				  "permit_listen = 8080\n"
				  "permit_listen = localhost:*\n"
				  "\n"
				  "[key l_no]\n"
				  "key_file = /k/l_no\n"
				  "gateway_ports = no\n"
				  "permit_listen = 8080\n"
				  "\n"
				  "[key l_yes]\n"
				  "key_file = /k/l_yes\n"
				  "gateway_ports = yes\n"
				  "permit_listen = 8080\n"
				  "permit_listen = 127.0.0.1:9090\n"
				  "\n"
				  "[key l_client]\n"
				  "key_file = /k/l_client\n"
				  "gateway_ports = clientspecified\n"
				  "permit_listen = 8080\n"
				  "permit_listen = 127.0.0.1:9090\n"
				  "permit_listen = [::1]:9091\n"
				  "permit_listen = localhost:9092\n"
				  "permit_listen = *:9093\n"
				  "\n"
				  "[key l_any]\n"
				  "key_file = /k/l_any\n"
				  "permit_listen = any\n"
				  "\n"
				  "[key u]\n"
				  "key_file = /k/u\n"
				  "allow_unix_forwarding = yes\n"
				  "permit_open = /run/app/*.sock\n"
				  "permit_open = /tmp/exact.sock\n"
				  "permit_open = /tmp/[ab].sock\n"
				  "permit_open = 10.0.0.1:1\n"
				  "permit_listen = /run/listen/*.sock\n"
				  "\n"
				  "[key u_off]\n"
				  "key_file = /k/u_off\n"
				  "permit_open = /run/app/*.sock\n"
				  "permit_listen = /run/listen/*.sock\n"
				  "\n"
				  "[key u_local]\n"
				  "key_file = /k/u_local\n"
				  "allow_forwarding = local\n"
				  "allow_unix_forwarding = yes\n"
				  "permit_open = /run/o.sock\n"
				  "permit_listen = /run/l.sock\n"
				  "\n"
				  "[key u_remote]\n"
				  "key_file = /k/u_remote\n"
				  "allow_forwarding = remote\n"
				  "allow_unix_forwarding = yes\n"
				  "permit_open = /run/o.sock\n"
				  "permit_listen = /run/l.sock\n"
				  "\n"
				  "[key u_any]\n"
				  "key_file = /k/u_any\n"
				  "allow_unix_forwarding = yes\n"
				  "permit_open = any\n"
				  "permit_listen = any\n";

static int load(void **state)
{
	struct config_server *c = calloc(1, sizeof(*c));
	char err[CONFIG_ERR_MAX];

	if (!c)
		return -1;
	config_server_defaults(c);
	if (conf_server_load_string(policy_conf, strlen(policy_conf), "policy.conf", c, err)) {
		fprintf(stderr, "%s\n", err);
		config_server_free(c);
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int unload(void **state)
{
	config_server_free(*state);
	free(*state);
	return 0;
}

static const struct config_key *key(void **state, const char *name)
{
	const struct config_server *c = *state;
	size_t i;

	for (i = 0; i < c->nkeys; i++)
		if (strcmp(c->keys[i].name, name) == 0)
			return &c->keys[i];
	fail_msg("no key %s", name);
	return NULL;
}

struct open_case {
	const char *key, *host;
	uint16_t port;
	int allow;
	const char *why; /* exact */
};

static const struct open_case opens[] = {
    /* CIDR, IPv4 */
    {"cidr", "10.1.2.3", 443, 1, "permit_open 10.0.0.0/8:443"},
    {"cidr", "10.0.0.0", 443, 1, "permit_open 10.0.0.0/8:443"},
    {"cidr", "10.255.255.255", 443, 1, "permit_open 10.0.0.0/8:443"},
    {"cidr", "10.1.2.3", 444, 0, "not in permit_open"},
    {"cidr", "11.0.0.1", 443, 0, "not in permit_open"},
    {"cidr", "9.255.255.255", 443, 0, "not in permit_open"},
    {"cidr", "192.168.1.128", 22, 1, "permit_open 192.168.1.128/25:22"},
    {"cidr", "192.168.1.255", 22, 1, "permit_open 192.168.1.128/25:22"},
    {"cidr", "192.168.1.127", 22, 0, "not in permit_open"},
    /* IPv4-mapped IPv6 is the IPv4 address, both ways */
    {"cidr", "::ffff:10.9.9.9", 443, 1, "permit_open 10.0.0.0/8:443"},
    {"cidr", "::ffff:a09:909", 443, 1, "permit_open 10.0.0.0/8:443"},
    {"cidr", "172.16.5.5", 25, 1, "permit_open [::ffff:172.16.0.0/108]:25"},
    {"cidr", "172.32.0.1", 25, 0, "not in permit_open"},
    /* CIDR, IPv6, any port */
    {"cidr", "2001:db8::1", 1, 1, "permit_open [2001:db8::/32]:*"},
    {"cidr", "2001:DB8:ffff:ffff::", 65535, 1, "permit_open [2001:db8::/32]:*"},
    {"cidr", "2001:db9::1", 1, 0, "not in permit_open"},
    {"cidr", "::1", 443, 0, "not in permit_open"},
    /* a name never matches a network, even one spelled like an address */
    {"cidr", "db.10.example", 443, 0, "not in permit_open"},
    {"cidr", "10.1.2.3.", 443, 0, "not in permit_open"},
    {"cidr", "10.1", 443, 0, "not in permit_open"},
    {"cidr", "012.1.2.3", 443, 0, "not in permit_open"},
    /* names as names */
    {"names", "db.internal", 5432, 1, "permit_open db.internal:5432"},
    {"names", "DB.Internal.", 5432, 1, "permit_open db.internal:5432"},
    {"names", "db.internal", 5433, 0, "not in permit_open"},
    {"names", "db.internal.evil", 5432, 0, "not in permit_open"},
    {"names", "example.com", 1, 1, "permit_open Example.COM:*"},
    {"names", "example.com", 65535, 1, "permit_open Example.COM:*"},
    {"names", "www.example.com", 1, 0, "not in permit_open"},
    /* "*" host: any name or address */
    {"names", "anything.example", 80, 1, "permit_open *:80"},
    {"names", "10.0.0.1", 80, 1, "permit_open *:80"},
    {"names", "::1", 80, 1, "permit_open *:80"},
    /* addresses as addresses; a name is not its address */
    {"names", "127.0.0.1", 22, 1, "permit_open 127.0.0.1:22"},
    {"names", "::ffff:127.0.0.1", 22, 1, "permit_open 127.0.0.1:22"},
    {"names", "localhost", 22, 0,
     "not in permit_open (names never match addresses: localhost is not permit_open 127.0.0.1:22; "
     "permit it "
     "as written, or connect to what is permitted)"},
    {"names", "127.0.0.2", 22, 0, "not in permit_open"},

    {"names", "0:0::1", 5432, 1, "permit_open [::1]:5432"},
    {"names", "0000:0000:0000:0000:0000:0000:0000:0001", 5432, 1, "permit_open [::1]:5432"},
    {"names", "localhost", 5432, 0,
     "not in permit_open (names never match addresses: localhost is not permit_open [::1]:5432; "
     "permit it "
     "as written, or connect to what is permitted)"},
    {"names", "fe80::1%eth0", 5432, 0, "not in permit_open"},
    /* any, nothing, and the allow_forwarding gate */
    {"any", "x", 1, 1, "permit_open any"},
    {"any", "2001:db8::1", 65535, 1, "permit_open any"},
    {"none", "x", 1, 0, "not in permit_open"},
    {"local", "h", 1, 1, "permit_open h:1"},
    {"remote", "h", 1, 0, "allow_forwarding = remote"},
    {"off", "h", 1, 0, "allow_forwarding = no"},
    /* requests that name nothing */
    {"any", "", 1, 0, "no destination"},
    {"any", NULL, 1, 0, "no destination"},
    {"any", "x", 0, 0, "no destination"},
    /* Unix entries are not TCP entries */
    {"u", "/run/app/x.sock", 1, 0, "not in permit_open"},
    {"u", "10.0.0.1", 1, 1, "permit_open 10.0.0.1:1"},
};

static void test_open(void **state)
{
	char why[POLICY_WHY_MAX];
	size_t i;

	for (i = 0; i < sizeof(opens) / sizeof(opens[0]); i++) {
		const struct open_case *t = &opens[i];
		int v = policy_may_open(key(state, t->key), t->host, t->port, why);
		if (v != t->allow || strcmp(why, t->why) != 0)
			fail_msg("[key %s] %s:%u: got %d '%s', want %d '%s'", t->key,
				 t->host ? t->host : "(null)", t->port, v, why, t->allow, t->why);
	}
	assert_int_equal(policy_may_open(NULL, "h", 1, why), 0);
	assert_string_equal(why, "no key");
	/* ${why} may be NULL. */
	assert_int_equal(policy_may_open(key(state, "any"), "h", 1, NULL), 1);
}

struct listen_case {
	const char *key;
	int gw_default;
	const char *host;
	uint16_t port;
	int allow;
	const char *bind;
	const char *why; /* exact */
};

#define NO	      CONFIG_GW_NO
#define YES	      CONFIG_GW_YES
#define CS	      CONFIG_GW_CLIENT
#define BIND(e, g, b) "permit_listen " e "; gateway_ports = " g " -> binds " b

/* The client's bind request under each gateway_ports value. */
static const struct listen_case listens[] = {
    /* no: always loopback, whatever the client asks */
    {"l_no", NO, "", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    {"l_no", NO, "*", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    {"l_no", NO, "0.0.0.0", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    {"l_no", NO, "localhost", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    {"l_no", NO, "192.0.2.1", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    {"l_no", NO, "::1", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    {"l_no", NO, "host.example", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    {"l_no", NO, NULL, 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    /* a key's own setting beats [server]'s */
    {"l_no", YES, "", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    {"l_no", NO, "", 8081, 0, "", "not in permit_listen"},
    /* yes: always all addresses */
    {"l_yes", NO, "", 8080, 1, "*", BIND("8080", "yes", "*")},
    {"l_yes", NO, "*", 8080, 1, "*", BIND("8080", "yes", "*")},
    {"l_yes", NO, "localhost", 8080, 1, "*", BIND("8080", "yes", "*")},
    {"l_yes", NO, "127.0.0.1", 8080, 1, "*", BIND("8080", "yes", "*")},
    {"l_yes", NO, "192.0.2.1", 8080, 1, "*", BIND("8080", "yes", "*")},
    {"l_yes", NO, "host.example", 8080, 1, "*", BIND("8080", "yes", "*")},
    /* ... so an entry for one address can never match */
    {"l_yes", NO, "127.0.0.1", 9090, 0, "", "not in permit_listen"},
    /* clientspecified: what the client names */
    {"l_client", NO, "", 8080, 1, "*", BIND("8080", "clientspecified", "*")},
    {"l_client", NO, "*", 8080, 1, "*", BIND("8080", "clientspecified", "*")},
    {"l_client", NO, "localhost", 8080, 1, "127.0.0.1",
     BIND("8080", "clientspecified", "127.0.0.1")},
    {"l_client", NO, "LocalHost.", 8080, 1, "127.0.0.1",
     BIND("8080", "clientspecified", "127.0.0.1")},
    {"l_client", NO, "0.0.0.0", 8080, 1, "0.0.0.0", BIND("8080", "clientspecified", "0.0.0.0")},
    {"l_client", NO, "127.0.0.1", 8080, 1, "127.0.0.1",
     BIND("8080", "clientspecified", "127.0.0.1")},
    {"l_client", NO, "::1", 8080, 1, "::1", BIND("8080", "clientspecified", "::1")},
    {"l_client", NO, "192.0.2.1", 8080, 1, "192.0.2.1",
     BIND("8080", "clientspecified", "192.0.2.1")},
    {"l_client", NO, "host.example", 8080, 0, "",
     "gateway_ports = clientspecified takes *, localhost or an IP address"},
    {"l_client", NO, "127.1", 8080, 0, "",
     "gateway_ports = clientspecified takes *, localhost or an IP address"},
    /* entries with a bind address match the address actually bound */
    {"l_client", NO, "127.0.0.1", 9090, 1, "127.0.0.1",
     BIND("127.0.0.1:9090", "clientspecified", "127.0.0.1")},
    {"l_client", NO, "localhost", 9090, 1, "127.0.0.1",
     BIND("127.0.0.1:9090", "clientspecified", "127.0.0.1")},
    {"l_client", NO, "", 9090, 0, "", "not in permit_listen"},
    {"l_client", NO, "192.0.2.1", 9090, 0, "", "not in permit_listen"},
    {"l_client", NO, "0:0::1", 9091, 1, "0:0::1", BIND("[::1]:9091", "clientspecified", "0:0::1")},
    {"l_client", NO, "127.0.0.1", 9091, 0, "", "not in permit_listen"},
    {"l_client", NO, "::1", 9092, 1, "::1", BIND("localhost:9092", "clientspecified", "::1")},
    {"l_client", NO, "127.3.4.5", 9092, 1, "127.3.4.5",
     BIND("localhost:9092", "clientspecified", "127.3.4.5")},
    {"l_client", NO, "*", 9092, 0, "", "not in permit_listen"},
    {"l_client", NO, "192.0.2.1", 9093, 1, "192.0.2.1",
     BIND("*:9093", "clientspecified", "192.0.2.1")},
    {"l_client", NO, "", 9093, 1, "*", BIND("*:9093", "clientspecified", "*")},
    /* no key setting: [server]'s applies, and a bad one reads as "no" */
    {"l_server", NO, "0.0.0.0", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    {"l_server", YES, "", 8080, 1, "*", BIND("8080", "yes", "*")},
    {"l_server", CS, "::1", 8080, 1, "::1", BIND("8080", "clientspecified", "::1")},
    {"l_server", 77, "", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    {"l_server", CONFIG_GW_SERVER, "", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    /* port 0 (allocate) needs a '*' port */
    {"l_server", NO, "", 0, 1, "127.0.0.1", BIND("localhost:*", "no", "127.0.0.1")},
    {"l_server", YES, "", 0, 0, "", "not in permit_listen"},
    {"l_server", NO, "", 4444, 1, "127.0.0.1", BIND("localhost:*", "no", "127.0.0.1")},
    {"l_client", NO, "", 0, 0, "", "not in permit_listen"},
    {"l_no", NO, "", 0, 0, "", "not in permit_listen"},
    {"l_any", NO, "", 0, 1, "127.0.0.1",
     "permit_listen any; gateway_ports = no -> binds 127.0.0.1"},
    {"l_any", CS, "192.0.2.7", 1, 1, "192.0.2.7",
     "permit_listen any; gateway_ports = clientspecified -> binds 192.0.2.7"},
    /* nothing listed, and the allow_forwarding gate */
    {"none", NO, "", 8080, 0, "", "not in permit_listen"},
    {"local", NO, "", 8080, 0, "", "allow_forwarding = local"},
    {"off", NO, "", 8080, 0, "", "allow_forwarding = no"},
    {"remote", NO, "", 8080, 1, "127.0.0.1", BIND("8080", "no", "127.0.0.1")},
    /* Unix entries are not TCP entries */
    {"u", NO, "", 8080, 0, "", "not in permit_listen"},
};

static void test_listen(void **state)
{
	char why[POLICY_WHY_MAX], bind[NET_HOST_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(listens) / sizeof(listens[0]); i++) {
		const struct listen_case *t = &listens[i];
		int v;
		memset(bind, 'x', sizeof(bind));
		v = policy_may_listen(key(state, t->key), t->gw_default, t->host, t->port, bind,
				      why);
		if (v != t->allow || strcmp(why, t->why) != 0 || strcmp(bind, t->bind) != 0)
			fail_msg("[key %s] gw %d listen '%s':%u: got %d bind '%s' '%s', want %d "
				 "bind '%s' '%s'",
				 t->key, t->gw_default, t->host ? t->host : "(null)", t->port, v,
				 bind, why, t->allow, t->bind, t->why);
	}
	assert_int_equal(policy_may_listen(NULL, NO, "", 1, bind, why), 0);
	assert_string_equal(why, "no key");
	assert_int_equal(policy_may_listen(key(state, "l_any"), NO, "", 1, NULL, NULL), 1);
}

struct unix_case {
	const char *key, *path;
	int listen;
	int allow;
	const char *why; /* exact */
};

static const struct unix_case unixes[] = {
    {"u", "/run/app/x.sock", 0, 1, "permit_open /run/app/*.sock"},
    {"u", "/run/app/.x.sock", 0, 1, "permit_open /run/app/*.sock"},
    {"u", "/run/app/sub/x.sock", 0, 0, "not in permit_open"},
    {"u", "/run/app/x.socket", 0, 0, "not in permit_open"},
    {"u", "/run/app/x.sock/y.sock", 0, 0, "not in permit_open"},
    {"u", "/tmp/exact.sock", 0, 1, "permit_open /tmp/exact.sock"},
    {"u", "/tmp/exact.sockx", 0, 0, "not in permit_open"},
    {"u", "/tmp/a.sock", 0, 1, "permit_open /tmp/[ab].sock"},
    {"u", "/tmp/[ab].sock", 0, 1, "permit_open /tmp/[ab].sock"},
    {"u", "/tmp/c.sock", 0, 0, "not in permit_open"},
    /* paths that could walk out of a glob's directory */
    {"u", "/run/app/../x.sock", 0, 0,
     "bad unix socket path: '//', '.' and '..' are not allowed in paths"},
    {"u", "/run/app/./x.sock", 0, 0,
     "bad unix socket path: '//', '.' and '..' are not allowed in paths"},
    {"u", "//run/app/x.sock", 0, 0,
     "bad unix socket path: '//', '.' and '..' are not allowed in paths"},
    {"u", "run/app/x.sock", 0, 0, "bad unix socket path: not an absolute path"},
    {"u", "", 0, 0, "bad unix socket path: not an absolute path"},
    {"u", NULL, 0, 0, "bad unix socket path: not an absolute path"},
    {"u", "/run/app/x\n.sock", 0, 0, "bad unix socket path: control or non-ASCII byte in path"},
    {"u", "/run/app/", 0, 0, "bad unix socket path: path ends in '/'"},
    /* the open and listen lists are separate */
    {"u", "/run/listen/a.sock", 0, 0, "not in permit_open"},
    {"u", "/run/listen/a.sock", 1, 1, "permit_listen /run/listen/*.sock"},
    {"u", "/run/app/x.sock", 1, 0, "not in permit_listen"},
    /* the gates */
    {"u_off", "/run/app/x.sock", 0, 0, "allow_unix_forwarding = no"},
    {"u_off", "/run/listen/x.sock", 1, 0, "allow_unix_forwarding = no"},
    {"u_local", "/run/o.sock", 0, 1, "permit_open /run/o.sock"},
    {"u_local", "/run/l.sock", 1, 0, "allow_forwarding = local"},
    {"u_remote", "/run/o.sock", 0, 0, "allow_forwarding = remote"},
    {"u_remote", "/run/l.sock", 1, 1, "permit_listen /run/l.sock"},
    {"off", "/run/o.sock", 0, 0, "allow_forwarding = no"},
    /* "any" is TCP only */
    {"u_any", "/run/o.sock", 0, 0, "not in permit_open"},
    {"u_any", "/run/l.sock", 1, 0, "not in permit_listen"},
};

static void test_unix(void **state)
{
	char why[POLICY_WHY_MAX];
	size_t i;

	for (i = 0; i < sizeof(unixes) / sizeof(unixes[0]); i++) {
		const struct unix_case *t = &unixes[i];
		const struct config_key *k = key(state, t->key);
		int v = t->listen ? policy_may_listen_unix(k, t->path, why)
				  : policy_may_open_unix(k, t->path, why);
		if (v != t->allow || strcmp(why, t->why) != 0)
			fail_msg("[key %s] %s %s: got %d '%s', want %d '%s'", t->key,
				 t->listen ? "listen" : "open", t->path ? t->path : "(null)", v,
				 why, t->allow, t->why);
	}
	assert_int_equal(policy_may_open_unix(NULL, "/x", why), 0);
	assert_int_equal(policy_may_listen_unix(NULL, "/x", why), 0);
	assert_string_equal(why, "no key");
}

/* A hand-made key with values no parser produces is refused, not trusted. */
static void test_bad_values(void **state)
{
	struct config_key k;
	char why[POLICY_WHY_MAX], bind[NET_HOST_MAX + 1];

	(void)state;
	memset(&k, 0, sizeof(k));
	k.permit_any = 1;
	k.permit_listen_any = 1;
	k.allow_forwarding = 42;
	assert_int_equal(policy_may_open(&k, "h", 1, why), 0);
	assert_string_equal(why, "allow_forwarding has a bad value");
	assert_int_equal(policy_may_listen(&k, NO, "", 1, bind, why), 0);
	assert_int_equal(policy_may_open_unix(&k, "/x", why), 0);
	assert_string_equal(why, "allow_forwarding has a bad value");
	k.allow_forwarding = CONFIG_FWD_YES;
	k.gateway_ports = -3;
	assert_int_equal(policy_may_listen(&k, -1, "0.0.0.0", 1, bind, why), 1);
	assert_string_equal(bind, "127.0.0.1");
	/* A zeroed key is forwarding "yes" to nothing. */
	memset(&k, 0, sizeof(k));
	assert_int_equal(policy_may_open(&k, "h", 1, why), 0);
	assert_string_equal(why, "not in permit_open");
	assert_int_equal(policy_may_listen(&k, NO, "", 1, bind, why), 0);
	assert_string_equal(why, "not in permit_listen");
	assert_int_equal(policy_may_open_unix(&k, "/x", why), 0);
	assert_string_equal(why, "allow_unix_forwarding = no");
}

struct check_case {
	const char *key, *request;
	int verdict;
	const char *why; /* exact, or for -1 a prefix */
};

static const struct check_case checks[] = {
    {"cidr", "10.0.0.5:443", 1, "permit_open 10.0.0.0/8:443"},
    {"cidr", "[2001:db8::5]:22", 1, "permit_open [2001:db8::/32]:*"},
    {"cidr", "db.internal:443", 0, "not in permit_open"},
    {"names", "DB.internal:5432", 1, "permit_open db.internal:5432"},
    {"remote", "h:1", 0, "allow_forwarding = remote"},
    {"l_client", "listen:8080", 1, BIND("8080", "clientspecified", "*")},
    {"l_client", "listen:*:8080", 1, BIND("8080", "clientspecified", "*")},
    {"l_client", "listen:localhost:9090", 1,
     BIND("127.0.0.1:9090", "clientspecified", "127.0.0.1")},
    {"l_client", "listen:[::1]:9091", 1, BIND("[::1]:9091", "clientspecified", "::1")},
    {"l_client", "listen:0", 0, "not in permit_listen"},
    {"l_server", "listen:0", 1, BIND("localhost:*", "no", "127.0.0.1")},
    {"local", "listen:1", 0, "allow_forwarding = local"},
    {"u", "unix:/run/app/a.sock", 1, "permit_open /run/app/*.sock"},
    {"u", "listen-unix:/run/listen/a.sock", 1, "permit_listen /run/listen/*.sock"},
    {"u", "listen-unix:/run/app/a.sock", 0, "not in permit_listen"},
    {"u_off", "unix:/run/app/a.sock", 0, "allow_unix_forwarding = no"},
    /* "unix:22" is the host "unix" */
    {"any", "unix:22", 1, "permit_open any"},
    {"any", "listen:22", 0, "not in permit_listen"},
    /* bad requests */
    {"nobody", "h:1", -1, "no [key nobody] in the configuration"},
    {"any", "h", -1, "missing port"},
    {"any", "h:0", -1, "bad port"},
    {"any", "", -1, "empty address"},
    {"any", "::1:22", -1, "too many ':'"},
    {"any", "listen:", -1, "bad listen request"},
    {"any", "listen:70000", -1, "bad listen request"},
    {"any", "listen:[::1]9000", -1, "bad listen request"},
    {"any", "listen:a:b:1", -1, "bad listen request"},
    {"any", "listen:bad!:1", -1, "bad listen request"},
    {"any", "listen:[::1:1", -1, "bad listen request"},
    {"any", "unix:rel.sock", -1, "bad unix socket path: not an absolute path"},
    {"any", "listen-unix:/a/../b", -1, "bad unix socket path"},
};

static void test_permits_anything(void **state)
{
	/* none: no entries; off: allow_forwarding = no; u_off: only Unix
	 * entries without allow_unix_forwarding. The rest permit something. */
	const char *nothing[] = {"none", "off", "u_off"};
	const char *something[] = {"local", "remote", "l_server", "l_any", "u", "u_local", "any"};
	for (size_t i = 0; i < sizeof(nothing) / sizeof(nothing[0]); i++)
		if (policy_permits_anything(key(state, nothing[i])))
			fail_msg("[key %s] said to permit something", nothing[i]);
	for (size_t i = 0; i < sizeof(something) / sizeof(something[0]); i++)
		if (!policy_permits_anything(key(state, something[i])))
			fail_msg("[key %s] said to permit nothing", something[i]);
	assert_int_equal(policy_permits_anything(NULL), 0);
}

static void test_check(void **state)
{
	const struct config_server *c = *state;
	char why[POLICY_WHY_MAX];
	size_t i;

	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		const struct check_case *t = &checks[i];
		int v = policy_check(c, t->key, t->request, why);
		int ok = t->verdict < 0 ? strncmp(why, t->why, strlen(t->why)) == 0 ||
					      strstr(why, t->why) != NULL
					: strcmp(why, t->why) == 0;
		if (v != t->verdict || !ok)
			fail_msg("check %s '%s': got %d '%s', want %d '%s'", t->key, t->request, v,
				 why, t->verdict, t->why);
	}
	assert_int_equal(policy_check(NULL, "a", "h:1", why), -1);
	assert_int_equal(policy_check(c, NULL, "h:1", why), -1);
	assert_int_equal(policy_check(c, "any", NULL, why), -1);
	assert_string_equal(why, "nothing to check");
}

/* ---- the matrix ---- */

static const char three_keys[] = "[server]\n"
				 "listen = 0.0.0.0:7000\n"
				 "\n"
				 "[key alice]\n"
				 "key_file = /etc/postern/alice.key\n"
				 "allow_forwarding = local\n"
				 "permit_open = 127.0.0.1:22\n"
				 "permit_open = 10.0.0.0/8:443\n"
				 "\n"
				 "[key bob]\n"
				 "key_file = /etc/postern/bob.key\n"
				 "allow_forwarding = remote\n"
				 "permit_listen = 8080\n"
				 "permit_listen = *:9000\n"
				 "gateway_ports = clientspecified\n"
				 "\n"
				 "[key carol]\n"
				 "key_file = /etc/postern/carol.key\n"
				 "permit_open = any\n"
				 "permit_open = /run/app/*.sock\n"
				 "allow_unix_forwarding = yes\n";

/* The matrix of ${text} as a malloc'd string. */
static char *matrix_of(const char *text, const char *const *notes)
{
	struct config_server c;
	char err[CONFIG_ERR_MAX], *out = NULL;
	size_t len = 0;
	FILE *f;

	config_server_defaults(&c);
	if (conf_server_load_string(text, strlen(text), "server.conf", &c, err) != 0)
		fail_msg("%s", err);
	f = open_memstream(&out, &len);
	assert_non_null(f);
	policy_print_matrix_notes(f, &c, notes);
	assert_int_equal(fclose(f), 0);
	config_server_free(&c);
	return out;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* POSTERN_UPDATE_GOLDEN=1 rewrites the reference after a deliberate change. */
static void test_matrix_golden(void **state)
{
	char *got, *want;
	struct config_server c;
	char err[CONFIG_ERR_MAX], *plain = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	got = matrix_of(three_keys, NULL);
	if (getenv("POSTERN_UPDATE_GOLDEN")) {
		f = fopen(GOLDEN, "w");
		assert_non_null(f);
		fputs(got, f);
		assert_int_equal(fclose(f), 0);
	}
	want = read_all(GOLDEN);
	if (!want)
		fail_msg("cannot read %s (run the tests from the repository root)", GOLDEN);
	if (strcmp(got, want) != 0)
		fail_msg("matrix differs from %s:\n--- got\n%s--- want\n%s", GOLDEN, got, want);

	/* policy_print_matrix() is the notes variant without notes. */
	config_server_defaults(&c);
	assert_int_equal(
	    conf_server_load_string(three_keys, strlen(three_keys), "server.conf", &c, err), 0);
	f = open_memstream(&plain, &len);
	assert_non_null(f);
	policy_print_matrix(f, &c);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(plain, got);
	config_server_free(&c);
	free(plain);
	free(got);
	free(want);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("missing '%s' in:\n%s", needle, haystack);
}

static void test_matrix_details(void **state)
{
	static const char text[] = "[server]\n"
				   "gateway_ports = yes\n"
				   "[key a]\n"
				   "key_file = a\n"
				   "allow_forwarding = remote\n"
				   "permit_open = h:1\n"
				   "permit_open = /x.sock\n"
				   "permit_listen = 127.0.0.1:9090\n"
				   "permit_listen = localhost:*\n"
				   "permit_listen = *:*\n"
				   "permit_listen = 8080\n"
				   "permit_listen = [::1]:*\n"
				   "[key b]\n"
				   "key_file = b\n"
				   "gateway_ports = no\n"
				   "permit_listen = 192.0.2.1:1\n"
				   "permit_listen = localhost:2\n"
				   "permit_listen = /l.sock\n"
				   "allow_unix_forwarding = yes\n";
	static const char *const notes[] = {"0123456789abcdef", "(key file not loaded: \x1b[31m)"};
	char *m;

	(void)state;
	m = matrix_of(text, notes);
	assert_contains(m, "access matrix for server.conf: 2 keys\n");
	assert_contains(m, "\n[server]\n  gateway_ports           yes\n");
	assert_contains(m, "[key a]                   server.conf:3\n");
	assert_contains(m, "  key id                  0123456789abcdef\n");
	assert_contains(
	    m, "  gateway_ports           yes (server default) -> binds * (all addresses)\n");
	assert_contains(
	    m, "  local (-L/-D)           denied (allow_forwarding = remote; 1 permit_open "
	       "entry unused)\n");
	/* "*:*" is any, which the matrix shows instead of the list */
	assert_contains(m, "  remote (-R)             any port, on the address gateway_ports gives "
			   "(permit_listen any)\n");
	assert_contains(m, "  unix target (-L)        denied (allow_forwarding = remote; 1 "
			   "permit_open entry unused)\n");
	assert_contains(m, "  unix listen (-R)        denied (allow_unix_forwarding = no)\n");
	/* control bytes in notes never reach the terminal */
	assert_contains(m, "  key id                  (key file not loaded: ?[31m)\n");
	assert_contains(m, "  gateway_ports           no -> binds 127.0.0.1 (loopback only)\n");
	assert_contains(m, "  remote (-R)             192.0.2.1:1 (never: gateway_ports = no binds "
			   "127.0.0.1)\n"
			   "                          localhost:2\n");
	assert_contains(m, "  unix target (-L)        denied (no permit_open path)\n");
	assert_contains(m, "  unix listen (-R)        /l.sock\n");
	free(m);

	m = matrix_of("[key a]\nkey_file = a\npermit_listen = 127.0.0.1:1\n"
		      "permit_listen = localhost:*\npermit_listen = [::1]:*\n"
		      "gateway_ports = yes\n",
		      NULL);
	assert_contains(m,
			"  remote (-R)             127.0.0.1:1 (never: gateway_ports = yes "
			"binds *)\n"
			"                          localhost:* (never: gateway_ports = yes binds "
			"*)\n"
			"                          [::1]:* (never: gateway_ports = yes binds *)\n");
	free(m);

	m = matrix_of("[key a]\nkey_file = a\npermit_listen = localhost:*\n", NULL);
	assert_contains(m, "  remote (-R)             localhost:* (any port, or one the server "
			   "picks)\n");
	free(m);

	m = matrix_of("", NULL);
	assert_string_equal(m, "access matrix for server.conf: 0 keys\n\n[server]\n"
			       "  gateway_ports           no (default)\n");
	free(m);
	/* Nothing to print to or from: no crash. */
	policy_print_matrix(NULL, NULL);
	policy_print_matrix(stdout, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open, load, unload),
	    cmocka_unit_test_setup_teardown(test_listen, load, unload),
	    cmocka_unit_test_setup_teardown(test_unix, load, unload),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test_setup_teardown(test_check, load, unload),
	    cmocka_unit_test_setup_teardown(test_permits_anything, load, unload),
	    cmocka_unit_test(test_matrix_golden),
	    cmocka_unit_test(test_matrix_details),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
