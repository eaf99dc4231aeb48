/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/client.h"
#include "conf/server.h"
#include "guard/permit.h"
#include "util/config.h"
#include "util/keys.h"

#define PASTED_KEY "postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

#include "tmpdir.h"

/* err must begin "FILE:LINE: " (or "FILE: " for line 0) and contain ${why}. */
static void check_err(const char *err, const char *file, int line, const char *why,
		      const char *text)
{
	char prefix[256];

	if (line)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", file);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, why))
		fail_msg("for:\n%s\nexpected '%s...%s', got '%s'", text, prefix, why, err);
}

static const char good_server[] = "# postern server\n"
				  "; both comment styles\n"
				  "[server]\n"
				  "listen = 0.0.0.0:2222\n"
				  "listen = [::]:2222          ; and IPv6\n"
				  "reject_delay = 2-4         # seconds\n"
				  "replay_window = 300\n"
				  "ban_threshold = 3\n"
				  "ban_window = 120\n"
				  "ban_time = 3600\n"
				  "max_unauth = 100\n"
				  "max_unauth_per_source = 4\n"
				  "max_sessions = 2000\n"
				  "keepalive = 0\n"
				  "\n"
				  "[key alice]\n"
				  "key_file = alice.key\n"
				  "permit_open = localhost:22\n"
				  "permit_open = *:443\n"
				  "permit_open = db.internal:*\n"
				  "permit_open = [::1]:5432\n"
				  "\n"
				  "[ key  bob.2-x_y ]\n"
				  "  key_file = /etc/postern/bob.key\n"
				  "  permit_open = any\n";

static void test_server_good(void **state)
{
	struct config_server c;
	char path[128], err[CONFIG_ERR_MAX], expect[192];

	in_dir(state, "server.conf", path, sizeof(path));
	write_file(path, good_server, strlen(good_server), 0644);
	config_server_defaults(&c);
	if (conf_server_load(path, &c, err) != 0)
		fail_msg("%s", err);
	assert_string_equal(c.file, path);
	assert_int_equal(c.nlisten, 2);
	assert_string_equal(c.listen[0].host, "0.0.0.0");
	assert_int_equal(c.listen[0].port, 2222);
	assert_string_equal(c.listen[1].host, "::");
	assert_int_equal(c.reject_delay_min_ms, 2000);
	assert_int_equal(c.reject_delay_max_ms, 4000);
	assert_int_equal(c.replay_window_s, 300);
	assert_int_equal(c.ban_threshold, 3);
	assert_int_equal(c.ban_window_s, 120);
	assert_int_equal(c.ban_time_s, 3600);
	assert_int_equal(c.max_unauth, 100);
	assert_int_equal(c.max_unauth_per_source, 4);
	assert_int_equal(c.max_sessions, 2000);
	assert_int_equal(c.keepalive_s, 0);

	assert_int_equal(c.nkeys, 2);
	assert_string_equal(c.keys[0].name, "alice");
	in_dir(state, "alice.key", expect, sizeof(expect));
	assert_string_equal(c.keys[0].key_file, expect);
	assert_int_equal(c.keys[0].line, 16);
	assert_int_equal(c.keys[0].permit_any, 0);
	assert_int_equal(c.keys[0].npermit, 4);
	assert_string_equal(c.keys[0].permit[0].host, "localhost");
	assert_int_equal(c.keys[0].permit[0].port, 22);
	assert_string_equal(c.keys[0].permit[1].host, "*");
	assert_int_equal(c.keys[0].permit[1].port, 443);
	assert_string_equal(c.keys[0].permit[2].host, "db.internal");
	assert_int_equal(c.keys[0].permit[2].port, 0);
	assert_string_equal(c.keys[0].permit[3].host, "::1");
	assert_string_equal(c.keys[1].name, "bob.2-x_y");
	assert_string_equal(c.keys[1].key_file, "/etc/postern/bob.key");
	assert_int_equal(c.keys[1].permit_any, 1);
	assert_int_equal(c.keys[1].npermit, 0);
	assert_int_equal(conf_server_check(&c, err), 0);
	config_server_free(&c);
	config_server_free(&c);
}

static void test_server_defaults_and_check(void **state)
{
	static const char text[] = "[key a]\r\nkey_file = a.key\r\n";
	struct config_server c;
	struct net_endpoint ep;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(text, strlen(text), "server.conf", &c, err), 0);
	assert_string_equal(c.keys[0].key_file, "a.key");
	assert_int_equal(c.reject_delay_min_ms, 1000);
	assert_int_equal(c.reject_delay_max_ms, 3000);
	assert_int_equal(c.replay_window_s, 120);
	assert_int_equal(c.ban_threshold, 5);
	assert_int_equal(c.ban_window_s, 60);
	assert_int_equal(c.ban_time_s, 600);
	assert_int_equal(c.max_unauth, 64);
	assert_int_equal(c.max_unauth_per_source, 8);
	assert_int_equal(c.max_sessions, 1024);
	assert_int_equal(c.keepalive_s, 10);

	assert_int_equal(conf_server_check(&c, err), -1);
	assert_string_equal(
	    err, "server.conf: no listen address (add 'listen = host:port' to [server], or give -l "
		 "HOST:PORT)");
	assert_int_equal(net_parse_hostport("0.0.0.0:2222", &ep, NULL, 0, err), 0);
	assert_int_equal(config_add_listen(&c, &ep), 0);
	assert_int_equal(conf_server_check(&c, err), 0);
	config_server_free(&c);

	/* Flags only: no file, no keys. */
	config_server_defaults(&c);
	assert_int_equal(config_add_listen(&c, &ep), 0);
	assert_int_equal(conf_server_check(&c, err), -1);
	assert_string_equal(err, "no key: give -k FILE");
	assert_non_null(config_add_key(&c, "default"));
	assert_int_equal(conf_server_check(&c, err), -1);
	assert_string_equal(err, "[key default] has no key_file or public_key");
	snprintf(c.keys[0].key_file, sizeof(c.keys[0].key_file), "k.key");
	assert_int_equal(conf_server_check(&c, err), 0);
	assert_null(config_add_key(&c, "default"));
	assert_null(config_add_key(&c, "bad name"));
	assert_null(config_add_key(&c, ""));
	config_server_free(&c);
}

static void test_server_bom_comments_indent(void **state)
{
	static const char text[] = "\xef\xbb\xbf"
				   "[server]   # trailing comment\n"
				   "\tlisten = 127.0.0.1:1 ;x\n"
				   "\tlog_rate = 7\n"
				   "\t\tmax_sessions = 9\n"
				   "[key k];c\n"
				   "key_file = /k;not a comment\n"
				   "#[key commented]\n";
	struct config_server c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_server_defaults(&c);
	if (conf_server_load_string(text, strlen(text), "s.conf", &c, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.nlisten, 1);
	assert_int_equal(c.log_rate, 7);
	assert_int_equal(c.max_sessions, 9);
	assert_int_equal(c.nkeys, 1);
	assert_string_equal(c.keys[0].key_file, "/k;not a comment");
	config_server_free(&c);
}

struct bad_config {
	const char *text;
	int line; /* 0: no line in the message */
	const char *why;
};

static const struct bad_config bad_servers[] = {
    {"[server]\nmax_refusals = 15\n", 2, "max_refusals: '15' is out of range 16..1000000"},
    {"[server]\nmax_refusals = abc\n", 2, "max_refusals: bad value 'abc'"},
    {"[server]\nban_exempt = 10.0.0.0/33\n", 2, "ban_exempt: '10.0.0.0/33' is not ADDR"},
    {"[server]\nban_exempt = host.example\n", 2, "is not ADDR or ADDR/BITS"},
    {"[server]\nlisten = 0.0.0.0:2222\nbogus line\n", 3, "syntax error"},
    {"[server]\nlisten 0.0.0.0\n[key a]\nfoo = 1\n", 2, "syntax error"},
    {"[server\n", 1, "syntax error (missing ']')"},
    {"[server] x\n", 1, "unexpected text after ']'"},
    {"[spa]\nlisten = 0.0.0.0:1\nguard = tcp/0\n", 3, "guard 'tcp/0': port must be 1..65535"},
    {"[spa]\nlisten = 0.0.0.0:1\nguard = sctp/9\n", 3, "expected tcp/PORT or udp/PORT"},
    {"[spa]\nguard = tcp/22\nguard = tcp/22\n", 3, "guard: tcp/22 given twice"},
    {"[spa]\nnft_table = a-b\n", 2, "nft_table 'a-b': letters, digits and '_' only"},
    {"[spa]\nnft_table = t;flush ruleset\n", 2, "letters, digits and '_' only"},
    {"[spa]\nip_forward = maybe\n", 2, "ip_forward: bad value 'maybe'"},
    {"[nope]\n", 1, "unknown section [nope] (expected [server], [spa], [fleet] or [key NAME])"},
    {"[profile a]\n", 1, "unknown section [profile]"},
    {"[]\n", 1, "unknown section"},
    {"listen = 1.2.3.4:1\n", 1, "setting outside a section"},
    {"[server]\npermt_open = x\n", 2, "unknown setting 'permt_open' in [server]"},
    {"[key alice]\nkey_file = a\npermt_open = x:1\n", 3,
     "unknown setting 'permt_open' in [key alice]"},
    {"[server]\nListen = 1.2.3.4:5\n", 2, "unknown setting in [server]"},
    {"[server]\n= 5\n", 2, "missing setting name"},
    /* preauth_timeout was folded into reject_delay: say so, naming the line. */
    {"[server]\npreauth_timeout = 10\n", 2,
     "preauth_timeout: no longer a setting: it was folded into reject_delay"},
    {"[server]\nreplay_window = 0\n", 2, "replay_window: '0' is out of range 1..3600"},
    {"[server]\nreplay_window = 3601\n", 2, "replay_window: '3601' is out of range"},
    {"[server]\nreplay_window = abc\n", 2, "replay_window: bad value 'abc'"},
    {"[server]\nreplay_window = -1\n", 2, "replay_window: bad value '-1'"},
    {"[server]\nreplay_window = 10s\n", 2, "replay_window: bad value '10s'"},
    {"[server]\nreplay_window = 99999999999\n", 2, "'99999999999' is out of range"},
    {"[server]\nreplay_window = 4294967306\n", 2, "out of range"},
    {"[server]\nreplay_window =\n", 2, "replay_window: bad value ''"},
    {"[server]\nmax_sessions = 1000001\n", 2, "max_sessions: '1000001' is out of range 1..1000000"},
    {"[server]\nmax_unauth = 0\n", 2, "max_unauth: '0' is out of range"},
    {"[server]\nban_threshold = 0\n", 2, "ban_threshold: '0' is out of range"},
    {"[server]\nban_time = 31536001\n", 2, "ban_time: '31536001' is out of range 1..31536000"},
    {"[server]\nkeepalive = 3601\n", 2, "keepalive: '3601' is out of range 0..3600"},
    {"[server]\nreplay_window = 0\n", 2, "replay_window: '0' is out of range"},
    {"[server]\nreject_delay = 3-1\n", 2, "reject_delay: bad value '3-1'"},
    {"[server]\nreject_delay = 1-\n", 2, "reject_delay: bad value '1-'"},
    {"[server]\nreject_delay = -3\n", 2, "reject_delay: bad value '-3'"},
    {"[server]\nreject_delay = 1-61\n", 2, "reject_delay: bad value '1-61'"},
    {"[server]\nreject_delay = a-b\n", 2, "reject_delay: bad value"},
    {"[server]\nreject_delay = 1-2-3\n", 2, "reject_delay: bad value"},
    {"[server]\nreject_delay = 1 - 2\n", 2, "reject_delay: bad value"},
    {"[server]\nlisten = 2222\n", 2, "listen: missing host in '2222'"},
    {"[server]\nlisten = host:65536\n", 2, "listen: bad port '65536'"},
    {"[server]\nlisten = ::1:22\n", 2, "listen: too many ':'"},
    {"[server]\nlisten = 1.2.3.4:22\nlisten = 1.2.3.4:22\n", 3, "listen: 1.2.3.4:22 given twice"},
    {"[server]\nlisten = [::1]:22\nlisten = [0::1]:22\n", 3, "given twice"},
    {"[server]\nlog_rate = 5\n\nlog_rate = 6\n", 4, "log_rate set twice (first on line 2)"},
    {"[server]\nreject_delay = 1\nreject_delay = 2\n", 3, "reject_delay set twice"},
    {"[server]\n[server]\n", 2, "second [server] section (first on line 1)"},
    {"[server x]\n", 1, "[server] takes no name"},
    {"[key]\n", 1, "[key] needs a name: [key NAME]"},
    {"[key bad/name]\n", 1, "bad key name: '/' not allowed"},
    {"[key a b]\n", 1, "bad key name: ' ' not allowed"},
    {"[key "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]"
     "\n",
     1, "key name longer than 63 characters"},
    {"[key a]\nkey_file = a\n[key a]\n", 3, "duplicate [key a] (first on line 1)"},
    {"[key a]\nkey_file = a\nkey_file = b\n", 3, "key_file set twice"},
    {"[key a]\npermit_open = any\n", 1, "[key a] has no key_file"},
    {"[key a]\nkey_file = a\n[key b]\n", 3, "[key b] has no key_file"},
    {"[key a]\nkey_file = a\npermit_open = localhost:abc\n", 3,
     "permit_open 'localhost:abc': bad port"},
    {"[key a]\nkey_file = a\npermit_open = localhost\n", 3,
     "permit_open 'localhost': missing port"},
    {"[key a]\nkey_file = a\npermit_open = [::1:22\n", 3, "unbalanced '['"},
    {"[key a]\nkey_file = a\npermit_open = ::1:22\n", 3, "too many ':'"},
    {"[key a]\nkey_file = a\npermit_open = *\n", 3, "missing port"},
    {"[key a]\nkey_file = a\npermit_open = bad!:22\n", 3, "bad character '!'"},
    {"[key a]\nkey_file = a\npermit_open = host:0\n", 3, "bad port"},
    {"[key a]\nkey_file = a\npermit_open = host:65536\n", 3, "bad port"},
    {"[key a]\nkey_file = a\npermit_open =\n", 3, "missing port"},
    {"[server]\nbogus\nmax_sessions = 0\n", 2, "syntax error"},
    {"[server]\nmax_sessions = 0\nbogus\n", 2, "max_sessions: '0' is out of range"},
    {"[server]\n" PASTED_KEY "\n", 2, "looks like a key"},
    {"[server]\nlisten = " PASTED_KEY "\n", 2, "looks like a key"},
    {"[key a]\nkey_file = a\n" PASTED_KEY "\n", 3, "looks like a key"},
    {"[server]\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 2, "unknown setting in [server]"},
    /* forwarding settings */
    {"[server]\ngateway_ports = maybe\n", 2,
     "gateway_ports: bad value 'maybe' (expected no, yes or clientspecified)"},
    {"[server]\ngateway_ports = server\n", 2, "gateway_ports: bad value 'server'"},
    {"[server]\ngateway_ports = Yes\n", 2, "gateway_ports: bad value 'Yes'"},
    {"[server]\ngateway_ports = no\ngateway_ports = yes\n", 3,
     "gateway_ports set twice (first on line 2)"},
    {"[key a]\nkey_file = a\nallow_forwarding = both\n", 3,
     "allow_forwarding: bad value 'both' (expected yes, no, local or remote)"},
    {"[key a]\nkey_file = a\nallow_forwarding =\n", 3, "allow_forwarding: bad value ''"},
    {"[key a]\nkey_file = a\nallow_forwarding = local\nallow_forwarding = local\n", 4,
     "allow_forwarding set twice (first on line 3)"},
    {"[key a]\nkey_file = a\ngateway_ports = server\n", 3,
     "gateway_ports: bad value 'server' (expected no, yes or clientspecified)"},
    {"[key a]\nkey_file = a\ngateway_ports = yes\ngateway_ports = no\n", 4,
     "gateway_ports set twice"},
    {"[key a]\nkey_file = a\nallow_unix_forwarding = true\n", 3,
     "allow_unix_forwarding: bad value 'true' (expected yes or no)"},
    {"[key a]\nkey_file = a\nallow_unix_forwarding = yes\nallow_unix_forwarding = no\n", 4,
     "allow_unix_forwarding set twice"},
    {"[server]\nallow_forwarding = no\n", 2, "unknown setting 'allow_forwarding' in [server]"},
    {"[server]\npermit_listen = 1\n", 2, "unknown setting 'permit_listen' in [server]"},
    /* permit_open networks */
    {"[key a]\nkey_file = a\npermit_open = 10.0.0.1/8:443\n", 3,
     "permit_open '10.0.0.1/8:443': address has bits set beyond /8"},
    {"[key a]\nkey_file = a\npermit_open = 10.0.0.0/33:1\n", 3,
     "permit_open '10.0.0.0/33:1': bad prefix length (expected 0..32)"},
    {"[key a]\nkey_file = a\npermit_open = 10.0.0.0/08:1\n", 3, "bad prefix length"},
    {"[key a]\nkey_file = a\npermit_open = 10.0.0.0/:1\n", 3, "bad prefix length"},
    {"[key a]\nkey_file = a\npermit_open = 10.0.0.0/8/8:1\n", 3, "bad prefix length"},
    {"[key a]\nkey_file = a\npermit_open = 10.0.0.0/-1:1\n", 3, "bad prefix length"},
    {"[key a]\nkey_file = a\npermit_open = db/8:1\n", 3, "bad IPv4 network address"},
    {"[key a]\nkey_file = a\npermit_open = [2001:db8::/129]:*\n", 3,
     "bad prefix length (expected 0..128)"},
    {"[key a]\nkey_file = a\npermit_open = [2001:db8::1/32]:*\n", 3,
     "address has bits set beyond /32"},
    {"[key a]\nkey_file = a\npermit_open = [10.0.0.0/8]:1\n", 3, "bad IPv6 network address"},
    {"[key a]\nkey_file = a\npermit_open = 2001:db8::/32:1\n", 3, "too many ':'"},
    {"[key a]\nkey_file = a\npermit_open = 10.0.0.0/8\n", 3, "missing port"},
    /* Unix paths */
    {"[key a]\nkey_file = a\npermit_open = /run/../x.sock\n", 3,
     "permit_open '/run/../x.sock': '//', '.' and '..' are not allowed in paths"},
    {"[key a]\nkey_file = a\npermit_open = /run//x.sock\n", 3, "'//', '.' and '..'"},
    {"[key a]\nkey_file = a\npermit_open = /run/./x.sock\n", 3, "'//', '.' and '..'"},
    {"[key a]\nkey_file = a\npermit_open = /run/dir/\n", 3,
     "permit_open '/run/dir/': path ends in '/'"},
    {"[key a]\nkey_file = a\npermit_open = /\n", 3, "path ends in '/'"},
    {"[key a]\nkey_file = a\npermit_open = "
     "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaa\n",
     3, "path too long (max 107 bytes)"},
    {"[key a]\nkey_file = a\npermit_listen = /run/../x.sock\n", 3,
     "permit_listen '/run/../x.sock': '//', '.' and '..'"},
    /* permit_listen */
    {"[key a]\nkey_file = a\npermit_listen = host.example:80\n", 3,
     "permit_listen 'host.example:80': bind address must be *, localhost or an IP address"},
    {"[key a]\nkey_file = a\npermit_listen = 10.0.0.0/8:1\n", 3,
     "bind address must be *, localhost or an IP address"},
    {"[key a]\nkey_file = a\npermit_listen = 127.1:1\n", 3, "bind address must be"},
    {"[key a]\nkey_file = a\npermit_listen = 0\n", 3,
     "permit_listen '0': bad port (expected 1..65535 or *)"},
    {"[key a]\nkey_file = a\npermit_listen = 70000\n", 3, "permit_listen '70000': bad port"},
    {"[key a]\nkey_file = a\npermit_listen = localhost:\n", 3, "bad port"},
    {"[key a]\nkey_file = a\npermit_listen =\n", 3, "permit_listen '': bad port"},
    {"[key a]\nkey_file = a\npermit_listen = :80\n", 3, "missing host"},
    {"[key a]\nkey_file = a\npermit_listen = [::1]80\n", 3,
     "permit_listen '[::1]80': expected [host:]port, [host:]*, /unix/path or any"},
    {"[key a]\nkey_file = a\npermit_listen = [::1\n", 3, "unbalanced '['"},
    {"[key a]\nkey_file = a\npermit_listen = [127.0.0.1]:1\n", 3, "bad IPv6 address in brackets"},
    {"[key a]\nkey_file = a\npermit_listen = ::1:80\n", 3, "too many ':'"},
    {"[key a]\nkey_file = a\npermit_listen = ANY\n", 3, "permit_listen 'ANY': bad port"},
    {"[key a]\nkey_file = a\npermit_listen = run/x.sock\n", 3, "bad port"},
};

/* Port 0 asks the kernel for a free port: two of them are two listeners, not a repeat. */
static void test_port_zero_listeners(void **state)
{
	static const char srv_text[] = "[server]\nlisten = 127.0.0.1:0\nlisten = 127.0.0.1:0\n"
				       "[key a]\nkey_file = a\npermit_open = any\n";
	static const char cli_text[] = "[profile p]\nserver = 127.0.0.1:7000\nkey_file = a\n"
				       "local_forward = 0:127.0.0.1:22\n"
				       "local_forward = 127.0.0.1:0:127.0.0.1:80\n"
				       "dynamic_forward = 0\n";
	char path[128], err[CONFIG_ERR_MAX];
	struct config_server c;
	struct config_client cl;

	in_dir(state, "server.conf", path, sizeof(path));
	write_file(path, srv_text, strlen(srv_text), 0644);
	config_server_defaults(&c);
	if (conf_server_load(path, &c, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.nlisten, 2);
	assert_int_equal(c.listen[0].port, 0);
	assert_int_equal(c.listen[1].port, 0);
	config_server_free(&c);

	in_dir(state, "client.conf", path, sizeof(path));
	write_file(path, cli_text, strlen(cli_text), 0644);
	config_client_defaults(&cl);
	if (conf_client_load(path, NULL, &cl, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(cl.nlocal, 2);
	assert_int_equal(cl.local[0].listen.port, 0);
	assert_int_equal(cl.local[1].listen.port, 0);
	assert_int_equal(cl.ndynamic, 1);
	assert_int_equal(cl.dynamic[0].port, 0);
	config_client_free(&cl);
}

static void test_server_bad(void **state)
{
	char path[128], err[CONFIG_ERR_MAX];
	struct config_server c;
	size_t i;

	in_dir(state, "server.conf", path, sizeof(path));
	for (i = 0; i < sizeof(bad_servers) / sizeof(bad_servers[0]); i++) {
		const struct bad_config *t = &bad_servers[i];
		write_file(path, t->text, strlen(t->text), 0644);
		config_server_defaults(&c);
		err[0] = '\0';
		if (conf_server_load(path, &c, err) != -1)
			fail_msg("accepted:\n%s", t->text);
		check_err(err, path, t->line, t->why, t->text);
		assert_null(strstr(err, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"));
		config_server_free(&c);
	}
}

static void test_bytes_and_long_lines(void **state)
{
	static const char nul[] = "[server]\nlisten = 1.2.3.4:5\x00\n";
	char text[1024], err[CONFIG_ERR_MAX];
	struct config_server c;
	size_t n;

	(void)state;
	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(nul, sizeof(nul) - 1, "s.conf", &c, err), -1);
	check_err(err, "s.conf", 2, "NUL byte", "nul");
	config_server_free(&c);

	n = (size_t)snprintf(text, sizeof(text), "[key a]\nkey_file = ");
	memset(text + n, 'x', 300);
	memcpy(text + n + 300, "\n", 2);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(text, strlen(text), "s.conf", &c, err), -1);
	check_err(err, "s.conf", 2, "line too long", text);
	config_server_free(&c);

	/* A long comment is not a long line. */
	n = (size_t)snprintf(text, sizeof(text), "[key a]\nkey_file = k ; ");
	memset(text + n, 'x', 300);
	memcpy(text + n + 300, "\n", 2);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(text, strlen(text), "s.conf", &c, err), 0);
	assert_string_equal(c.keys[0].key_file, "k");
	config_server_free(&c);

	/* Nothing but a final line without a newline. */
	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string("[key a]\nkey_file = k", 20, "s.conf", &c, err),
			 0);
	config_server_free(&c);
	/* Empty input is a valid (empty) file; keys may come from --key. */
	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(NULL, 0, "s.conf", &c, err), 0);
	assert_int_equal(c.nkeys, 0);
	config_server_free(&c);
}

static void test_missing_file(void **state)
{
	char path[128], err[CONFIG_ERR_MAX], want[256];
	struct config_server s;
	struct config_client c;

	in_dir(state, "nope.conf", path, sizeof(path));
	config_server_defaults(&s);
	assert_int_equal(conf_server_load(path, &s, err), -1);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);
	config_client_defaults(&c);
	assert_int_equal(conf_client_load(path, NULL, &c, err), -1);
	assert_string_equal(err, want);
}

static void test_load_keys(void **state)
{
	char conf[128], key[128], text[512], err[CONFIG_ERR_MAX];
	struct config_server c;

	in_dir(state, "a.key", key, sizeof(key));
	assert_int_equal(keys_generate(key, err), 0);
	in_dir(state, "b.key", key, sizeof(key));
	assert_int_equal(keys_generate(key, err), 0);
	in_dir(state, "server.conf", conf, sizeof(conf));

	snprintf(text, sizeof(text), "[key a]\nkey_file = a.key\n[key b]\nkey_file = b.key\n");
	write_file(conf, text, strlen(text), 0644);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load(conf, &c, err), 0);
	if (conf_server_load_keys(&c, err) != 0)
		fail_msg("%s", err);
	assert_memory_not_equal(c.keys[0].psk, c.keys[1].psk, CRYPTO_KEY_LEN);
	config_server_free(&c);

	/* One key in two stanzas would make identities ambiguous. */
	snprintf(text, sizeof(text), "[key a]\nkey_file = a.key\n[key b]\nkey_file = ./a.key\n");
	write_file(conf, text, strlen(text), 0644);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load(conf, &c, err), 0);
	assert_int_equal(conf_server_load_keys(&c, err), -1);
	check_err(err, conf, 3, "[key b]: same key as [key a]", text);
	config_server_free(&c);

	/* A key file readable by others is refused, naming the stanza and the fix. */
	assert_int_equal(chmod(key, 0644), 0);
	snprintf(text, sizeof(text), "\n[key b]\nkey_file = b.key\n");
	write_file(conf, text, strlen(text), 0644);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load(conf, &c, err), 0);
	assert_int_equal(conf_server_load_keys(&c, err), -1);
	check_err(err, conf, 2, "[key b]: key file ", text);
	assert_non_null(strstr(err, "chmod 600"));
	assert_non_null(strstr(err, key));
	config_server_free(&c);

	snprintf(text, sizeof(text), "[key c]\nkey_file = c.key\n");
	write_file(conf, text, strlen(text), 0644);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load(conf, &c, err), 0);
	assert_int_equal(conf_server_load_keys(&c, err), -1);
	assert_non_null(strstr(err, "No such file or directory"));
	config_server_free(&c);
}

/* fwknop keys: decoded at file:line, both needed, the file 0600, knock-only stanzas allowed. */
static void test_fwknop_keys(void **state)
{
	static const char kb[] =
	    "fwknop_key_base64 = WCoza+ULfRsMf6lA2clzSnOLVcacynSSexmZo8HTdN0=\n";
	static const char hb[] =
	    "fwknop_hmac_key_base64 = eDWQmQkJPWOKeirhcMowaeDbdfQxwVcR3v+Jkx7WnG6"
	    "vWT3AJ7TkURB9foaZHILTHeK9zJFS9JQlG5VAYi/l7Q==\n";
	char conf[128], key[128], text[1024], err[CONFIG_ERR_MAX];
	struct config_server c;

	in_dir(state, "a.key", key, sizeof(key));
	assert_int_equal(keys_generate(key, err), 0);
	in_dir(state, "server.conf", conf, sizeof(conf));

	/* Knock-only next to a tunnel key: both load, only one is a tunnel identity. */
	snprintf(text, sizeof(text),
		 "[server]\nlisten = 127.0.0.1:1\n[key a]\nkey_file = a.key\n[key f]\n%s%s", kb,
		 hb);
	write_file(conf, text, strlen(text), 0600);
	config_server_defaults(&c);
	if (conf_server_load(conf, &c, err) != 0 || conf_server_load_keys(&c, err) != 0 ||
	    conf_server_check(&c, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(config_key_tunnel(&c.keys[0]), 1);
	assert_int_equal(config_key_fwknop(&c.keys[0]), 0);
	assert_int_equal(config_key_tunnel(&c.keys[1]), 0);
	assert_int_equal(config_key_fwknop(&c.keys[1]), 1);
	assert_int_equal(c.keys[1].fwknop.key_len, 32);
	assert_int_equal(c.keys[1].fwknop.hmac_len, 64);
	config_server_free(&c);

	/* Readable by others: refused, naming the stanza and the fix. */
	write_file(conf, text, strlen(text), 0644);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load(conf, &c, err), -1);
	check_err(err, conf, 5, "[key f] holds fwknop keys", text);
	assert_non_null(strstr(err, "chmod 600"));
	config_server_free(&c);

	/* One of the two only. */
	snprintf(text, sizeof(text), "[key f]\n%s", kb);
	write_file(conf, text, strlen(text), 0600);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load(conf, &c, err), -1);
	check_err(err, conf, 1, "only one of fwknop_key_base64", text);
	config_server_free(&c);

	/* Bad base64: file:line, and the value is not echoed. */
	snprintf(text, sizeof(text), "[key f]\n%sfwknop_hmac_key_base64 = s3cr*t!\n", kb);
	write_file(conf, text, strlen(text), 0600);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load(conf, &c, err), -1);
	check_err(err, conf, 3, "fwknop_hmac_key_base64: not base64", text);
	assert_null(strstr(err, "s3cr"));
	config_server_free(&c);

	/* A Rijndael key longer than fwknop's 32 bytes. */
	snprintf(text, sizeof(text),
		 "[key f]\n%sfwknop_key_base64 = "
		 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj\n",
		 hb);
	write_file(conf, text, strlen(text), 0600);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load(conf, &c, err), -1);
	check_err(err, conf, 3, "fwknop_key_base64: not base64 of 1 to 32 bytes", text);
	config_server_free(&c);

	/* The same HMAC key in two stanzas. */
	snprintf(text, sizeof(text), "[key f]\n%s%s[key g]\n%s%s", kb, hb, kb, hb);
	write_file(conf, text, strlen(text), 0600);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load(conf, &c, err), 0);
	assert_int_equal(conf_server_load_keys(&c, err), -1);
	check_err(err, conf, 4, "[key g]: same fwknop_hmac_key_base64 as [key f]", text);
	config_server_free(&c);
}

static void test_key_paths(void **state)
{
	static const char text[] = "[key a]\nkey_file = k/a.key\n[key b]\nkey_file = /abs/b.key\n";
	struct config_server c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(text, strlen(text), "/etc/p/s.conf", &c, err), 0);
	assert_string_equal(c.keys[0].key_file, "/etc/p/k/a.key");
	assert_string_equal(c.keys[1].key_file, "/abs/b.key");
	config_server_free(&c);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(text, strlen(text), "/s.conf", &c, err), 0);
	assert_string_equal(c.keys[0].key_file, "/k/a.key");
	config_server_free(&c);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(text, strlen(text), "conf/s.conf", &c, err), 0);
	assert_string_equal(c.keys[0].key_file, "conf/k/a.key");
	config_server_free(&c);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(text, strlen(text), "s.conf", &c, err), 0);
	assert_string_equal(c.keys[0].key_file, "k/a.key");
	config_server_free(&c);
}

static const char good_client[] = "[profile a]\n"
				  "server = vpn.example.com:2222\n"
				  "key_file = a.key\n"
				  "local_forward = 2222:localhost:22\n"
				  "local_forward = /tmp/pg.sock:db:5432\n"
				  "\n"
				  "[profile b]\n"
				  "server = [2001:db8::1]:443\n"
				  "key_file = /keys/b.key\n"
				  "cipher = aes-256-gcm\n"
				  "keepalive = 10\n"
				  "reconnect_max = 60\n"
				  "connect_timeout = 3\n";

static void test_client_good(void **state)
{
	char path[128], err[CONFIG_ERR_MAX], expect[192];
	struct config_client c;

	in_dir(state, "client.conf", path, sizeof(path));
	write_file(path, good_client, strlen(good_client), 0644);

	config_client_defaults(&c);
	if (conf_client_load(path, NULL, &c, err) != 0)
		fail_msg("%s", err);
	assert_string_equal(c.profile, "a");
	assert_string_equal(c.server.host, "vpn.example.com");
	assert_int_equal(c.server.port, 2222);
	in_dir(state, "a.key", expect, sizeof(expect));
	assert_string_equal(c.key_file, expect);
	assert_int_equal(c.nlocal, 2);
	assert_string_equal(c.local[0].listen.host, "127.0.0.1");
	assert_int_equal(c.local[0].listen.port, 2222);
	assert_int_equal(c.local[1].listen.is_unix, 1);
	assert_int_equal(c.cipher, -1);
	assert_int_equal(c.keepalive_s, 10);
	assert_int_equal(c.reconnect_max_s, 30);
	assert_int_equal(c.connect_timeout_ms, 10000);
	assert_int_equal(conf_client_check(&c, err), 0);
	config_client_free(&c);

	config_client_defaults(&c);
	if (conf_client_load(path, "b", &c, err) != 0)
		fail_msg("%s", err);
	assert_string_equal(c.profile, "b");
	assert_string_equal(c.server.host, "2001:db8::1");
	assert_int_equal(c.server.port, 443);
	assert_string_equal(c.key_file, "/keys/b.key");
	assert_int_equal(c.nlocal, 0);
	assert_int_equal(c.cipher, CRYPTO_AESGCM);
	assert_int_equal(c.keepalive_s, 10);
	assert_int_equal(c.reconnect_max_s, 60);
	assert_int_equal(c.connect_timeout_ms, 3000);
	config_client_free(&c);

	config_client_defaults(&c);
	assert_int_equal(conf_client_load(path, "x", &c, err), -1);
	snprintf(expect, sizeof(expect), "%s: no profile 'x' (profiles: a, b)", path);
	assert_string_equal(err, expect);
	config_client_free(&c);
}

static const struct bad_config bad_clients[] = {
    {"", 0, "no [profile NAME] stanza"},
    {"[server]\n", 1, "unknown section [server] (expected [profile NAME])"},
    {"[key a]\n", 1, "unknown section [key]"},
    {"server = a:1\n", 1, "setting outside a section (start with [profile NAME])"},
    {"[profile]\n", 1, "[profile] needs a name"},
    {"[profile a]\n[profile a]\n", 2, "duplicate [profile a] (first on line 1)"},
    {"[profile a]\nservr = a:1\n", 2, "unknown setting 'servr' in [profile a]"},
    {"[profile a]\nserver = a\n", 2, "server: missing port in 'a'"},
    {"[profile a]\nserver = a:1\nserver = b:1\n", 3, "server set twice"},
    {"[profile a]\ncipher = rot13\n", 2,
     "cipher: bad value 'rot13' (expected chacha20-poly1305, aes-256-gcm or auto)"},
    {"[profile a]\nconnect_timeout = 0\n", 2, "connect_timeout: '0' is out of range"},
    {"[profile a]\nreconnect_max = 3601\n", 2, "reconnect_max: '3601' is out of range"},
    {"[profile a]\nlocal_forward = 2222:host:abc\n", 2,
     "local_forward: bad port 'abc' in '2222:host:abc'"},
    {"[profile a]\nlocal_forward = 2222:host\n", 2,
     "local_forward: expected [bind_address:]port:host:hostport"},
    {"[profile a]\nlocal_forward = 2222:h:1\nlocal_forward = 127.0.0.1:2222:g:2\n", 3,
     "local_forward: 127.0.0.1:2222 is already forwarded"},
    {"[profile a]\nlocal_forward = /t/s:h:1\nlocal_forward = /t/s:g:2\n", 3, "already forwarded"},
    /* A broken profile is an error even when another one is asked for. */
    {"[profile a]\n[profile b]\nkeepalive = x\n", 3, "keepalive: bad value 'x'"},
    {"[profile a]\nkey_file = " PASTED_KEY "\n", 2, "looks like a key"},
};

static void test_client_bad(void **state)
{
	char path[128], err[CONFIG_ERR_MAX];
	struct config_client c;
	size_t i;

	in_dir(state, "client.conf", path, sizeof(path));
	for (i = 0; i < sizeof(bad_clients) / sizeof(bad_clients[0]); i++) {
		const struct bad_config *t = &bad_clients[i];
		write_file(path, t->text, strlen(t->text), 0644);
		config_client_defaults(&c);
		err[0] = '\0';
		if (conf_client_load(path, "a", &c, err) != -1)
			fail_msg("accepted:\n%s", t->text);
		check_err(err, path, t->line, t->why, t->text);
		assert_null(strstr(err, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"));
		config_client_free(&c);
	}
}

static void test_client_check(void **state)
{
	static const char text[] = "[profile p]\nkeepalive = 5\n";
	struct config_client c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_client_defaults(&c);
	assert_int_equal(conf_client_load_string(text, strlen(text), "c.conf", "p", &c, err), 0);
	assert_int_equal(conf_client_check(&c, err), -1);
	assert_string_equal(err, "no server: give SERVER:PORT (or server in profile 'p')");
	assert_int_equal(net_parse_hostport("h:1", &c.server, NULL, 0, err), 0);
	assert_int_equal(conf_client_check(&c, err), -1);
	assert_string_equal(err, "no key: give -k FILE (or key_file in profile 'p')");
	snprintf(c.key_file, sizeof(c.key_file), "k");
	assert_int_equal(conf_client_check(&c, err), 0);
	config_client_free(&c);

	config_client_defaults(&c);
	assert_int_equal(conf_client_load_string("", 0, "c.conf", "p", &c, err), -1);
	assert_string_equal(err, "c.conf: no [profile NAME] stanza");
	assert_int_equal(conf_client_check(&c, err), -1);
	assert_string_equal(err, "no server: give SERVER:PORT");
}

struct permit_case {
	const char *s;
	int ok, any;
	const char *host;
	unsigned port;
};

static const struct permit_case permits[] = {
    {"any", 1, 1, "*", 0},
    {"*:*", 1, 1, "*", 0},
    {"localhost:22", 1, 0, "localhost", 22},
    {"*:22", 1, 0, "*", 22},
    {"host:*", 1, 0, "host", 0},
    {"[::1]:22", 1, 0, "::1", 22},
    {"[::1]:*", 1, 0, "::1", 0},
    {"10.0.0.1:443", 1, 0, "10.0.0.1", 443},
    {"10.0.0.0/8:443", 1, 0, "10.0.0.0", 443},
    {"10.1.0.0/16:*", 1, 0, "10.1.0.0", 0},
    {"10.0.0.1/32:1", 1, 0, "10.0.0.1", 1},
    {"0.0.0.0/0:1", 1, 0, "0.0.0.0", 1},
    {"[2001:db8::/32]:*", 1, 0, "2001:db8::", 0},
    {"[::/0]:443", 1, 0, "::", 443},
    {"[::1/128]:1", 1, 0, "::1", 1},
    {"10.0.0.1/31:1", 0, 0, NULL, 0},
    {"10.0.0.0/8", 0, 0, NULL, 0},
    {"[::1/127]:1", 0, 0, NULL, 0},
    {"/run/x.sock", 0, 0, NULL, 0},
    {"ANY", 0, 0, NULL, 0},
    {"", 0, 0, NULL, 0},
    {"*", 0, 0, NULL, 0},
    {":22", 0, 0, NULL, 0},
    {"host:", 0, 0, NULL, 0},
    {"[]:22", 0, 0, NULL, 0},
    {"[10.0.0.1]:22", 0, 0, NULL, 0},
    {"[::1]22", 0, 0, NULL, 0},
    {"[::1]", 0, 0, NULL, 0},
    {"h:**", 0, 0, NULL, 0},
    {"h*:1", 0, 0, NULL, 0},
    {"1.2.3:1", 0, 0, NULL, 0},
    {"host:22 ", 0, 0, NULL, 0},
};

static void test_permit(void **state)
{
	struct config_permit p;
	char err[CONFIG_ERR_MAX];
	size_t i;
	int any;

	(void)state;
	for (i = 0; i < sizeof(permits) / sizeof(permits[0]); i++) {
		const struct permit_case *t = &permits[i];
		int rc = permit_parse_open(t->s, &p, &any, err);
		if (rc != (t->ok ? 0 : -1))
			fail_msg("'%s': rc %d (%s)", t->s, rc, rc ? err : "");
		if (!t->ok) {
			assert_non_null(strstr(err, "permit_open"));
			continue;
		}
		assert_int_equal(any, t->any);
		assert_string_equal(p.host, t->host);
		assert_int_equal(p.port, t->port);
	}
	assert_int_equal(permit_parse_open(NULL, &p, &any, err), -1);
}

static const char forwarding_server[] = "[server]\n"
					"gateway_ports = clientspecified\n"
					"[key a]\n"
					"key_file = a\n"
					"[key b]\n"
					"key_file = b\n"
					"allow_forwarding = local\n"
					"gateway_ports = no\n"
					"allow_unix_forwarding = yes\n"
					"permit_open = 10.0.0.0/8:443\n"
					"permit_open = [2001:db8::/32]:*\n"
					"permit_open = 0.0.0.0/0:22\n"
					"permit_open = /run/app/*.sock\n"
					"permit_open = any\n"
					"permit_listen = 8080\n"
					"permit_listen = *:9000\n"
					"permit_listen = localhost:*\n"
					"permit_listen = [::1]:22\n"
					"permit_listen = 127.0.0.1:1\n"
					"permit_listen = /run/l.sock\n"
					"[key c]\n"
					"key_file = c\n"
					"allow_forwarding = remote\n"
					"gateway_ports = yes\n"
					"allow_unix_forwarding = no\n"
					"permit_listen = any\n"
					"[key d]\n"
					"key_file = d\n"
					"allow_forwarding = no\n";

static void test_forwarding_settings(void **state)
{
	struct config_server c;
	const struct config_key *k;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_server_defaults(&c);
	assert_int_equal(c.gateway_ports, CONFIG_GW_NO);
	if (conf_server_load_string(forwarding_server, strlen(forwarding_server), "s.conf", &c,
				    err) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.gateway_ports, CONFIG_GW_CLIENT);
	assert_int_equal(c.nkeys, 4);

	k = &c.keys[0]; /* defaults */
	assert_int_equal(k->allow_forwarding, CONFIG_FWD_YES);
	assert_int_equal(k->gateway_ports, CONFIG_GW_SERVER);
	assert_int_equal(k->allow_unix_forwarding, 0);
	assert_int_equal(k->permit_any, 0);
	assert_int_equal(k->npermit, 0);
	assert_int_equal(k->permit_listen_any, 0);
	assert_int_equal(k->npermit_listen, 0);

	k = &c.keys[1];
	assert_int_equal(k->allow_forwarding, CONFIG_FWD_LOCAL);
	assert_int_equal(k->gateway_ports, CONFIG_GW_NO);
	assert_int_equal(k->allow_unix_forwarding, 1);
	assert_int_equal(k->permit_any, 1);
	assert_int_equal(k->npermit, 4);
	assert_string_equal(k->permit[0].host, "10.0.0.0");
	assert_int_equal(k->permit[0].cidr, 1);
	assert_int_equal(k->permit[0].prefix, 8);
	assert_int_equal(k->permit[0].port, 443);
	assert_string_equal(k->permit[1].host, "2001:db8::");
	assert_int_equal(k->permit[1].cidr, 1);
	assert_int_equal(k->permit[1].prefix, 32);
	assert_int_equal(k->permit[1].port, 0);
	assert_string_equal(k->permit[2].host, "0.0.0.0");
	assert_int_equal(k->permit[2].prefix, 0);
	assert_int_equal(k->permit[3].is_unix, 1);
	assert_string_equal(k->permit[3].path, "/run/app/*.sock");
	assert_string_equal(k->permit[3].host, "");
	assert_int_equal(k->permit_listen_any, 0);
	assert_int_equal(k->npermit_listen, 6);
	assert_string_equal(k->permit_listen[0].host, "");
	assert_int_equal(k->permit_listen[0].port, 8080);
	assert_string_equal(k->permit_listen[1].host, "*");
	assert_int_equal(k->permit_listen[1].port, 9000);
	assert_string_equal(k->permit_listen[2].host, "localhost");
	assert_int_equal(k->permit_listen[2].port, 0);
	assert_string_equal(k->permit_listen[3].host, "::1");
	assert_int_equal(k->permit_listen[3].port, 22);
	assert_string_equal(k->permit_listen[4].host, "127.0.0.1");
	assert_int_equal(k->permit_listen[5].is_unix, 1);
	assert_string_equal(k->permit_listen[5].path, "/run/l.sock");

	k = &c.keys[2];
	assert_int_equal(k->allow_forwarding, CONFIG_FWD_REMOTE);
	assert_int_equal(k->gateway_ports, CONFIG_GW_YES);
	assert_int_equal(k->allow_unix_forwarding, 0);
	assert_int_equal(k->permit_listen_any, 1);
	assert_int_equal(k->npermit_listen, 0);

	assert_int_equal(c.keys[3].allow_forwarding, CONFIG_FWD_NO);
	config_server_free(&c);
	assert_int_equal(c.nkeys, 0);

	/* config_add_key() gives the same defaults as a stanza. */
	config_server_defaults(&c);
	assert_non_null(config_add_key(&c, "q"));
	assert_int_equal(c.keys[0].allow_forwarding, CONFIG_FWD_YES);
	assert_int_equal(c.keys[0].gateway_ports, CONFIG_GW_SERVER);
	assert_int_equal(c.keys[0].allow_unix_forwarding, 0);
	config_server_free(&c);
}

struct listen_permit_case {
	const char *s;
	int ok, any;
	const char *host;
	unsigned port;
};

static const struct listen_permit_case listen_permits[] = {
    {"any", 1, 1, "*", 0},
    {"*", 1, 1, "*", 0},
    {"*:*", 1, 1, "*", 0},
    {"8080", 1, 0, "", 8080},
    {"*:8080", 1, 0, "*", 8080},
    {"localhost:*", 1, 0, "localhost", 0},
    {"127.0.0.1:22", 1, 0, "127.0.0.1", 22},
    {"0.0.0.0:22", 1, 0, "0.0.0.0", 22},
    {"[::]:22", 1, 0, "::", 22},
    {"[::1]:*", 1, 0, "::1", 0},
    {"", 0, 0, NULL, 0},
    {"0", 0, 0, NULL, 0},
    {"-1", 0, 0, NULL, 0},
    {"08080x", 0, 0, NULL, 0},
    {"Localhost:1", 0, 0, NULL, 0},
    {"name:1", 0, 0, NULL, 0},
    {"::1", 0, 0, NULL, 0},
    {"[::1]", 0, 0, NULL, 0},
    {"1.2.3.4/32:1", 0, 0, NULL, 0},
    {"/x.sock", 0, 0, NULL, 0},
};

static void test_permit_listen(void **state)
{
	struct config_permit p;
	struct config_key k;
	char err[CONFIG_ERR_MAX];
	size_t i;
	int any;

	(void)state;
	for (i = 0; i < sizeof(listen_permits) / sizeof(listen_permits[0]); i++) {
		const struct listen_permit_case *t = &listen_permits[i];
		int rc = permit_parse_listen(t->s, &p, &any, err);
		if (rc != (t->ok ? 0 : -1))
			fail_msg("'%s': rc %d (%s)", t->s, rc, rc ? err : "");
		if (!t->ok) {
			assert_non_null(strstr(err, "permit_listen"));
			continue;
		}
		assert_int_equal(any, t->any);
		assert_string_equal(p.host, t->host);
		assert_int_equal(p.port, t->port);
		assert_int_equal(p.cidr, 0);
		assert_int_equal(p.is_unix, 0);
	}
	assert_int_equal(permit_parse_listen(NULL, &p, &any, err), -1);

	/* permit_add_listen() takes paths too, and "any" sets a flag. */
	memset(&k, 0, sizeof(k));
	assert_int_equal(permit_add_listen(&k, "/run/a.sock", err), 0);
	assert_int_equal(permit_add_listen(&k, "9000", err), 0);
	assert_int_equal(permit_add_listen(&k, "any", err), 0);
	assert_int_equal(permit_add_listen(&k, "bad:", err), -1);
	assert_int_equal(permit_add_listen(&k, NULL, err), -1);
	assert_int_equal(permit_add_listen(NULL, "1", err), -1);
	assert_int_equal(k.npermit_listen, 2);
	assert_int_equal(k.permit_listen[0].is_unix, 1);
	assert_int_equal(k.permit_listen[1].port, 9000);
	assert_int_equal(k.permit_listen_any, 1);
	assert_int_equal(k.npermit, 0);
	free(k.permit_listen);
}

struct path_case {
	const char *s;
	const char *why; /* NULL: accepted */
};

static const struct path_case paths[] = {
    {"/run/app.sock", NULL},
    {"/run/app/*.sock", NULL},
    {"/run/[ab]?.sock", NULL},
    {"/a", NULL},
    {"/run/..x/.y.sock", NULL},
    {"/run/x..", NULL},
    {"", "not an absolute path"},
    {"run/x", "not an absolute path"},
    {"./x", "not an absolute path"},
    {"/", "path ends in '/'"},
    {"/run/", "path ends in '/'"},
    {"//x", "'//', '.' and '..' are not allowed in paths"},
    {"/x//y", "'//', '.' and '..' are not allowed in paths"},
    {"/./x", "'//', '.' and '..' are not allowed in paths"},
    {"/x/.", "'//', '.' and '..' are not allowed in paths"},
    {"/x/..", "'//', '.' and '..' are not allowed in paths"},
    {"/x/../y", "'//', '.' and '..' are not allowed in paths"},
    {"/x\ty", "control or non-ASCII byte in path"},
    {"/x:y [z]", NULL},
    {"/x\x01y", "control or non-ASCII byte in path"},
    {"/x\x7fy", "control or non-ASCII byte in path"},
    {"/x\xc3\xa9y", "control or non-ASCII byte in path"},
};

static void test_unix_paths(void **state)
{
	struct config_permit p;
	char err[CONFIG_ERR_MAX], longest[NET_PATH_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const struct path_case *t = &paths[i];
		const char *why = permit_check_unix_path(t->s);
		if ((why == NULL) != (t->why == NULL) || (why && strcmp(why, t->why) != 0))
			fail_msg("'%s': got '%s', want '%s'", t->s, why ? why : "ok",
				 t->why ? t->why : "ok");
	}
	assert_string_equal(permit_check_unix_path(NULL), "not an absolute path");
	memset(longest, 'a', sizeof(longest));
	longest[0] = '/';
	longest[NET_PATH_MAX] = '\0';
	assert_null(permit_check_unix_path(longest));
	longest[NET_PATH_MAX] = 'a';
	longest[NET_PATH_MAX + 1] = '\0';
	assert_string_equal(permit_check_unix_path(longest), "path too long (max 107 bytes)");

	assert_int_equal(permit_parse_path("permit_listen", "/run/x.sock", &p, err), 0);
	assert_int_equal(p.is_unix, 1);
	assert_string_equal(p.path, "/run/x.sock");
	assert_int_equal(permit_parse_path(NULL, "x", &p, err), -1);
	assert_string_equal(err, "permit_open 'x': not an absolute path");
	assert_int_equal(p.is_unix, 0);
	assert_int_equal(permit_parse_path("permit_listen", NULL, &p, err), -1);
	/* permit_parse_open() is TCP only: a path is not a host. */
	assert_int_equal(permit_parse_open("/run/x.sock", &p, &(int){0}, err), -1);
}

/* [spa]'s nftables settings, and the rule that forward ports are guarded. */
static void test_spa_nft_settings(void **state)
{
	static const char ok[] = "[server]\nlisten = 0.0.0.0:7000\n"
				 "[spa]\nlisten = 0.0.0.0:62201\nbackend = nftables\n"
				 "guard = tcp/22\nguard = udp/53\nguard = tcp/5001\n"
				 "nft_table = gw_1\nnft_remove_on_exit = no\nip_forward = set\n"
				 "[key a]\nkey_file = a.key\nspa_access = tcp/5001\n"
				 "spa_forward = 192.168.10.23:22\n";
	static const char unguarded[] = "[server]\nlisten = 0.0.0.0:7000\n"
					"[spa]\nlisten = 0.0.0.0:62201\nbackend = nftables\n"
					"guard = tcp/22\n"
					"[key a]\nkey_file = a.key\nspa_access = tcp/5001\n"
					"spa_forward = 192.168.10.23:22\n";
	static const char no_access[] = "[server]\nlisten = 0.0.0.0:7000\n"
					"[spa]\nlisten = 0.0.0.0:62201\nbackend = nftables\n"
					"[key a]\nkey_file = a.key\nspa_forward = 10.0.0.1:22\n";
	struct config_server c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_server_defaults(&c);
	assert_string_equal(c.spa.nft_table, "postern");
	assert_int_equal(c.spa.nft_remove_on_exit, 1);
	assert_int_equal(c.spa.ip_forward, FW_NFT_IPFWD_CHECK);
	assert_int_equal(c.spa.nguard, 0);
	assert_int_equal(conf_server_load_string(ok, strlen(ok), "s.conf", &c, err), 0);
	assert_int_equal(c.spa.nguard, 3);
	assert_int_equal(c.spa.guard[1].proto, SPA_PROTO_UDP);
	assert_int_equal(c.spa.guard[1].port, 53);
	assert_string_equal(c.spa.nft_table, "gw_1");
	assert_int_equal(c.spa.nft_remove_on_exit, 0);
	assert_int_equal(c.spa.ip_forward, FW_NFT_IPFWD_SET);
	assert_int_equal(conf_server_check(&c, err), 0);
	/* The listener backend guards no nftables port: nothing to check. */
	c.spa.backend = CONFIG_SPA_LISTENER;
	c.spa.nguard = 0;
	assert_int_equal(conf_server_check(&c, err), 0);
	config_server_free(&c);

	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(unguarded, strlen(unguarded), "s.conf", &c, err),
			 0);
	assert_int_equal(conf_server_check(&c, err), -1);
	assert_string_equal(err, "s.conf:7: [key a]: spa_access tcp/5001 is not in [spa] guard "
				 "(the nftables backend closes only guarded ports; add 'guard = "
				 "tcp/5001')");
	config_server_free(&c);

	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(no_access, strlen(no_access), "s.conf", &c, err),
			 0);
	assert_int_equal(conf_server_check(&c, err), -1);
	assert_non_null(strstr(err, "s.conf:6: [key a]: spa_forward needs spa_access"));
	config_server_free(&c);
}

static void test_words(void **state)
{
	(void)state;
	assert_int_equal(config_forwarding_parse("yes"), CONFIG_FWD_YES);
	assert_int_equal(config_forwarding_parse("no"), CONFIG_FWD_NO);
	assert_int_equal(config_forwarding_parse("local"), CONFIG_FWD_LOCAL);
	assert_int_equal(config_forwarding_parse("remote"), CONFIG_FWD_REMOTE);
	assert_int_equal(config_forwarding_parse("Local"), -1);
	assert_int_equal(config_forwarding_parse("both"), -1);
	assert_int_equal(config_forwarding_parse(""), -1);
	assert_int_equal(config_forwarding_parse(NULL), -1);
	assert_int_equal(config_gateway_parse("no"), CONFIG_GW_NO);
	assert_int_equal(config_gateway_parse("yes"), CONFIG_GW_YES);
	assert_int_equal(config_gateway_parse("clientspecified"), CONFIG_GW_CLIENT);
	assert_int_equal(config_gateway_parse("server"), -1);
	assert_int_equal(config_gateway_parse("client"), -1);
	assert_int_equal(config_gateway_parse(NULL), -1);
	assert_int_equal(config_yesno_parse("yes"), 1);
	assert_int_equal(config_yesno_parse("no"), 0);
	assert_int_equal(config_yesno_parse("true"), -1);
	assert_int_equal(config_yesno_parse("YES"), -1);
	assert_int_equal(config_yesno_parse(NULL), -1);
	assert_string_equal(config_forwarding_name(CONFIG_FWD_LOCAL), "local");
	assert_string_equal(config_forwarding_name(CONFIG_FWD_YES), "yes");
	assert_string_equal(config_forwarding_name(4), "?");
	assert_string_equal(config_forwarding_name(-1), "?");
	assert_string_equal(config_gateway_name(CONFIG_GW_CLIENT), "clientspecified");
	assert_string_equal(config_gateway_name(CONFIG_GW_NO), "no");
	assert_string_equal(config_gateway_name(9), "?");
}

static void test_cipher_parse(void **state)
{
	(void)state;
	assert_int_equal(config_cipher_parse("chacha20-poly1305"), CRYPTO_CHACHAPOLY);
	assert_int_equal(config_cipher_parse("AES-256-GCM"), CRYPTO_AESGCM);
	assert_int_equal(config_cipher_parse("auto"), -1);
	assert_int_equal(config_cipher_parse("aes"), -2);
	assert_int_equal(config_cipher_parse(""), -2);
	assert_int_equal(config_cipher_parse(NULL), -2);
}

static void test_many_entries(void **state)
{
	struct config_key k;
	struct config_client c;
	struct net_forward fw;
	char err[CONFIG_ERR_MAX];
	int i;

	(void)state;
	memset(&k, 0, sizeof(k));
	for (i = 0; i < 100; i++)
		assert_int_equal(permit_add_open(&k, "h:1", err), 0);
	assert_int_equal(k.npermit, 100);
	free(k.permit);
	memset(&k, 0, sizeof(k));
	for (i = 0; i < 4096; i++)
		assert_int_equal(permit_add_listen(&k, i % 2 ? "1" : "/a", err), 0);
	assert_int_equal(permit_add_listen(&k, "1", err), -1);
	assert_string_equal(err, "permit_listen: too many entries (max 4096)");
	assert_int_equal(k.npermit_listen, 4096);
	free(k.permit_listen);
	config_client_defaults(&c);
	assert_int_equal(net_parse_forward("1:h:1", &fw, err), 0);
	for (i = 0; i < 4096; i++)
		assert_int_equal(config_add_forward(&c, &fw), 0);
	assert_int_equal(config_add_forward(&c, &fw), -1);
	config_client_free(&c);
	assert_int_equal(c.nlocal, 0);
}

/*
 * Issue 16.1: the duplicate check kept a pointer into inih's reused line
 * buffer, so every setting after exit_on_forward_failure was "set twice".
 */
static void test_client_after_exit_on_forward_failure(void **state)
{
	static const char text[] = "[profile o]\n"
				   "server = 127.0.0.1:1\n"
				   "key_file = k\n"
				   "exit_on_forward_failure = no\n"
				   "keepalive = 25\n"
				   "cipher = auto\n"
				   "reconnect_max = 7\n";
	struct config_client c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_client_defaults(&c);
	if (conf_client_load_string(text, strlen(text), "t.conf", NULL, &c, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.exit_on_forward_failure, 0);
	assert_int_equal(c.keepalive_s, 25);
	assert_int_equal(c.reconnect_max_s, 7);
	config_client_free(&c);
}

/* The ```ini block of README.md that starts with ${first}, as written. */
static char *readme_block(const char *first)
{
	char want[64], *text = NULL, *start, *end, *out = NULL;
	FILE *f = fopen("README.md", "r");
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (text = calloc(1, (size_t)n + 1)) != NULL &&
	    fread(text, 1, (size_t)n, f) == (size_t)n) {
		snprintf(want, sizeof(want), "```ini\n%s", first);
		start = strstr(text, want);
		end = start ? strstr(start + 7, "```") : NULL;
		if (end) {
			*end = '\0';
			out = strdup(start + 7);
		}
	}
	free(text);
	fclose(f);
	return out;
}

static void test_readme_profiles_parse(void **state)
{
	char err[CONFIG_ERR_MAX], *text;
	struct config_client c;
	struct config_server s;

	(void)state;
	text = readme_block("[profile");
	assert_non_null(text);
	config_client_defaults(&c);
	if (conf_client_load_string(text, strlen(text), "README client", NULL, &c, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.exit_on_forward_failure, 1);
	assert_int_equal(c.nlocal, 2);
	config_client_free(&c);
	free(text);

	text = readme_block("[server]");
	assert_non_null(text);
	config_server_defaults(&s);
	if (conf_server_load_string(text, strlen(text), "README server", &s, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(s.nkeys, 2);
	config_server_free(&s);
	free(text);
}

/* ban_exempt entries: an address or a network, IPv6 bare or in brackets. */
static void test_parse_cidr(void **state)
{
	static const struct {
		const char *s;
		int ok, family;
		unsigned bits;
	} cases[] = {
	    {"10.0.0.0/8", 1, AF_INET, 8},
	    {"192.0.2.1", 1, AF_INET, 32},
	    {"[2001:db8::]/32", 1, AF_INET6, 32},
	    {"2001:db8::1", 1, AF_INET6, 128},
	    {"0.0.0.0/0", 1, AF_INET, 0},
	    {"10.0.0.1/8", 0, 0, 0},
	    {"10.0.0.0/33", 0, 0, 0},
	    {"10.0.0.0/08", 0, 0, 0},
	    {"10.0.0.0/", 0, 0, 0},
	    {"host.example", 0, 0, 0},
	    {"", 0, 0, 0},
	    {"[::1]/129", 0, 0, 0},
	};
	struct config_cidr e;
	char err[CONFIG_ERR_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = config_parse_cidr(cases[i].s, &e, err);
		if (rc != (cases[i].ok ? 0 : -1))
			fail_msg("'%s': rc %d", cases[i].s, rc);
		if (cases[i].ok) {
			assert_int_equal(e.family, cases[i].family);
			assert_int_equal(e.bits, cases[i].bits);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_server_good, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_fwknop_keys, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test(test_server_defaults_and_check),
	    cmocka_unit_test_setup_teardown(test_port_zero_listeners, tmpdir_setup,
					    tmpdir_teardown),
	    cmocka_unit_test(test_server_bom_comments_indent),
	    cmocka_unit_test_setup_teardown(test_server_bad, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test(test_bytes_and_long_lines),
	    cmocka_unit_test_setup_teardown(test_missing_file, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_load_keys, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test(test_key_paths),
	    cmocka_unit_test_setup_teardown(test_client_good, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_client_bad, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test(test_client_check),
	    cmocka_unit_test(test_client_after_exit_on_forward_failure),
	    cmocka_unit_test(test_readme_profiles_parse),
	    cmocka_unit_test(test_parse_cidr),
	    cmocka_unit_test(test_permit),
	    cmocka_unit_test(test_forwarding_settings),
	    cmocka_unit_test(test_permit_listen),
	    cmocka_unit_test(test_unix_paths),
	    cmocka_unit_test(test_words),
	    cmocka_unit_test(test_spa_nft_settings),
	    cmocka_unit_test(test_cipher_parse),
	    cmocka_unit_test(test_many_entries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
