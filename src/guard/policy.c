/* SPDX-License-Identifier: MIT */
/*
 * Every decision is a gate (allow_forwarding, then allow_unix_forwarding for
 * Unix sockets) followed by a search of one list (permit_open or
 * permit_listen). The access matrix is printed from those same gates, the
 * same bind rule and the same entry formatting, so it cannot drift from what
 * is enforced. No DNS here: a name only matches the same name, an address
 * only an address or a network, which errs towards refusing.
 */
#include "guard/policy.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "guard/permit.h"
#include "util/net.h"

enum {
	ENTRY_MAX = NET_HOST_MAX + 32, /* "[host/128]:65535" or a path */
	LABEL_WIDTH = 24,	       /* matrix: the column where values start */
	SHOW_MAX = 200,		       /* longest file name or note the matrix repeats */
};

enum direction { DIR_LOCAL, DIR_REMOTE };

static int say(char *why, int verdict, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Every answer goes through here, so ${why} may be NULL and is always set. */
static int say(char *why, int verdict, const char *fmt, ...)
{
	va_list ap;

	if (!why)
		return verdict;
	va_start(ap, fmt);
	vsnprintf(why, POLICY_WHY_MAX, fmt, ap);
	va_end(ap);
	return verdict;
}

/* ---- gates ---- */

/* The allow_forwarding gate: NULL if ${key} may forward in ${dir}, else the deciding rule. */
static const char *gate_direction(const struct config_key *key, enum direction dir)
{
	switch (key->allow_forwarding) {
	case CONFIG_FWD_YES:
		return NULL;
	case CONFIG_FWD_LOCAL:
		return dir == DIR_LOCAL ? NULL : "allow_forwarding = local";
	case CONFIG_FWD_REMOTE:
		return dir == DIR_REMOTE ? NULL : "allow_forwarding = remote";
	case CONFIG_FWD_NO:
		return "allow_forwarding = no";
	}
	return "allow_forwarding has a bad value";
}

static const char *gate_unix(const struct config_key *key, enum direction dir)
{
	const char *rule = gate_direction(key, dir);

	if (rule)
		return rule;
	return key->allow_unix_forwarding ? NULL : "allow_unix_forwarding = no";
}

static int gateway_set(int gw)
{
	return gw >= CONFIG_GW_NO && gw <= CONFIG_GW_CLIENT;
}

/* [server]'s gateway_ports; anything unknown is the safe "no". */
static int server_gateway(int gw_default)
{
	return gateway_set(gw_default) ? gw_default : CONFIG_GW_NO;
}

/* A key's own gateway_ports, else [server]'s. */
static int effective_gateway(const struct config_key *key, int gw_default)
{
	return gateway_set(key->gateway_ports) ? key->gateway_ports : server_gateway(gw_default);
}

static int is_localhost(const char *host)
{
	return strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0;
}

/*
 * What a -R listener binds under ${gw} when the client asked for ${requested}
 * ("" = unspecified). Only clientspecified looks at the request, and takes
 * no names but localhost: binding a name would need the resolver.
 */
static int bind_address(int gw, const char *requested, char out[NET_HOST_MAX + 1])
{
	if (gw == CONFIG_GW_YES ||
	    (gw == CONFIG_GW_CLIENT && (requested[0] == '\0' || strcmp(requested, "*") == 0))) {
		snprintf(out, NET_HOST_MAX + 1, "*");
		return 0;
	}
	if (gw != CONFIG_GW_CLIENT || is_localhost(requested)) {
		snprintf(out, NET_HOST_MAX + 1, "127.0.0.1");
		return 0;
	}
	if (strlen(requested) > NET_HOST_MAX || !net_is_ip_literal(requested))
		return -1;
	snprintf(out, NET_HOST_MAX + 1, "%s", requested);
	return 0;
}

/* ---- matching ---- */

/* An IP literal as 16 bytes (IPv4 v4-mapped); ${base} = 96 for IPv4, where its bits start. */
static int ip16(const char *s, uint8_t out[16], unsigned *base)
{
	uint8_t a4[4];

	if (inet_pton(AF_INET6, s, out) == 1) {
		*base = 0;
		return 0;
	}
	if (inet_pton(AF_INET, s, a4) != 1)
		return -1;
	memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, a4, 4);
	*base = 96;
	return 0;
}

static int in_network(const struct config_permit *p, const char *host)
{
	uint8_t net[16], addr[16];
	unsigned nbase, abase, bits, whole;

	if (ip16(p->host, net, &nbase) < 0 || ip16(host, addr, &abase) < 0)
		return 0;
	bits = nbase + p->prefix;
	if (bits > 128)
		return 0;
	whole = bits / 8;
	if (memcmp(net, addr, whole) != 0)
		return 0;
	if (bits % 8 == 0)
		return 1;
	return ((net[whole] ^ addr[whole]) & (uint8_t)(0xff << (8 - bits % 8))) == 0;
}

static int open_host_matches(const struct config_permit *p, const char *host)
{
	if (strcmp(p->host, "*") == 0)
		return 1;
	if (p->cidr)
		return in_network(p, host);
	/* "10.0.0.1." is a name to us even if a resolver would read it as the address. */
	if (net_is_ip_literal(p->host) != net_is_ip_literal(host))
		return 0;
	return net_host_equal(p->host, host);
}

static int is_loopback(const char *bind)
{
	uint8_t a[16];
	unsigned base;
	static const uint8_t v6_loopback[16] = {[15] = 1};

	if (ip16(bind, a, &base) < 0)
		return 0;
	if (base == 96)
		return a[12] == 127;
	return memcmp(a, v6_loopback, sizeof(a)) == 0;
}

/* A listen entry's host against the address that will actually be bound. */
static int listen_host_matches(const struct config_permit *p, const char *bind)
{
	if (p->host[0] == '\0' || strcmp(p->host, "*") == 0)
		return 1;
	if (strcmp(p->host, "localhost") == 0)
		return is_loopback(bind);
	if (strcmp(bind, "*") == 0)
		return 0;
	return net_host_equal(p->host, bind);
}

/* Port 0 asks the server to pick one, so only a '*' entry can allow it. */
static int port_matches(const struct config_permit *p, uint16_t port)
{
	return p->port == 0 || p->port == port;
}

static int path_matches(const struct config_permit *p, const char *path)
{
	if (!p->is_unix)
		return 0;
	return strcmp(p->path, path) == 0 || fnmatch(p->path, path, FNM_PATHNAME) == 0;
}

/* An entry as the file would spell it: "10.0.0.0/8:443", "[::1]:*", "8080", "/run/a.sock". */
static char *format_entry(const struct config_permit *p, char *out, size_t size)
{
	char port[8] = "*";
	int v6 = strchr(p->host, ':') != NULL;

	if (p->port)
		snprintf(port, sizeof(port), "%u", (unsigned)p->port);
	if (p->is_unix)
		snprintf(out, size, "%s", p->path);
	else if (p->host[0] == '\0')
		snprintf(out, size, "%s", port);
	else if (p->cidr)
		snprintf(out, size, v6 ? "[%s/%u]:%s" : "%s/%u:%s", p->host, (unsigned)p->prefix,
			 port);
	else
		snprintf(out, size, v6 ? "[%s]:%s" : "%s:%s", p->host, port);
	return out;
}

/* ---- decisions ---- */

/* Does ${list} hold an entry this key may use (Unix ones only with allow_unix_forwarding)? */
static int usable_entries(const struct config_key *key, const struct config_permit *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!list[i].is_unix || key->allow_unix_forwarding)
			return 1;
	return 0;
}

int policy_permits_anything(const struct config_key *key)
{
	if (key == NULL)
		return 0;
	int local = gate_direction(key, DIR_LOCAL) == NULL &&
		    (key->permit_any || usable_entries(key, key->permit, key->npermit));
	int remote = gate_direction(key, DIR_REMOTE) == NULL &&
		     (key->permit_listen_any ||
		      usable_entries(key, key->permit_listen, key->npermit_listen));
	return local || remote;
}

int policy_may_open(const struct config_key *key, const char *host, uint16_t port, char *why)
{
	char e[ENTRY_MAX];
	const char *rule;
	size_t i;

	if (!key)
		return say(why, 0, "no key");
	rule = gate_direction(key, DIR_LOCAL);
	if (rule)
		return say(why, 0, "%s", rule);
	if (!host || !*host || port == 0)
		return say(why, 0, "no destination");
	if (key->permit_any)
		return say(why, 1, "permit_open any");
	for (i = 0; i < key->npermit; i++) {
		const struct config_permit *p = &key->permit[i];
		if (!p->is_unix && port_matches(p, port) && open_host_matches(p, host))
			return say(why, 1, "permit_open %s", format_entry(p, e, sizeof(e)));
	}
	/* The commonest surprise: 'localhost' against a permitted 127.0.0.1
	 * (or the reverse). Say why an entry that looks right did not match. */
	int local_name = strcasecmp(host, "localhost") == 0;
	for (i = 0; i < key->npermit && (local_name || is_loopback(host)); i++) {
		const struct config_permit *p = &key->permit[i];
		if (p->is_unix || p->cidr || !port_matches(p, port))
			continue;
		if (local_name ? is_loopback(p->host) : strcasecmp(p->host, "localhost") == 0)
			return say(why, 0,
				   "not in permit_open (names never match addresses: %s is not "
				   "permit_open %s; permit it as written, or connect to what is "
				   "permitted)",
				   host, format_entry(p, e, sizeof(e)));
	}
	return say(why, 0, "not in permit_open");
}

/* The shared tail of the two Unix decisions: gate, path shape, then the list. */
static int unix_decision(const struct config_key *key, enum direction dir, const char *path,
			 char *why)
{
	const char *setting = dir == DIR_LOCAL ? "permit_open" : "permit_listen";
	const struct config_permit *list;
	const char *rule, *bad;
	size_t i, n;

	if (!key)
		return say(why, 0, "no key");
	rule = gate_unix(key, dir);
	if (rule)
		return say(why, 0, "%s", rule);
	bad = permit_check_unix_path(path);
	if (bad)
		return say(why, 0, "bad unix socket path: %s", bad);
	list = dir == DIR_LOCAL ? key->permit : key->permit_listen;
	n = dir == DIR_LOCAL ? key->npermit : key->npermit_listen;
	for (i = 0; i < n; i++)
		if (path_matches(&list[i], path))
			return say(why, 1, "%s %s", setting, list[i].path);
	return say(why, 0, "not in %s", setting);
}

int policy_may_open_unix(const struct config_key *key, const char *path, char *why)
{
	return unix_decision(key, DIR_LOCAL, path, why);
}

int policy_may_listen_unix(const struct config_key *key, const char *path, char *why)
{
	return unix_decision(key, DIR_REMOTE, path, why);
}

/* The permit_listen entry that allows ${bind}:${port}, or NULL. */
static const struct config_permit *find_listen(const struct config_key *key, const char *bind,
					       uint16_t port)
{
	size_t i;

	for (i = 0; i < key->npermit_listen; i++) {
		const struct config_permit *p = &key->permit_listen[i];
		if (!p->is_unix && port_matches(p, port) && listen_host_matches(p, bind))
			return p;
	}
	return NULL;
}

int policy_may_listen(const struct config_key *key, int gw_default, const char *host, uint16_t port,
		      char *bind_out, char *why)
{
	char bind[NET_HOST_MAX + 1], rule[ENTRY_MAX + 16], e[ENTRY_MAX];
	const struct config_permit *p;
	const char *gate;
	int gw;

	if (bind_out)
		bind_out[0] = '\0';
	if (!key)
		return say(why, 0, "no key");
	gate = gate_direction(key, DIR_REMOTE);
	if (gate)
		return say(why, 0, "%s", gate);
	gw = effective_gateway(key, gw_default);
	if (bind_address(gw, host ? host : "", bind) < 0)
		return say(why, 0,
			   "gateway_ports = clientspecified takes *, localhost or an IP address");
	p = key->permit_listen_any ? NULL : find_listen(key, bind, port);
	if (!key->permit_listen_any && !p)
		return say(why, 0, "not in permit_listen");
	if (p)
		snprintf(rule, sizeof(rule), "permit_listen %s", format_entry(p, e, sizeof(e)));
	else
		snprintf(rule, sizeof(rule), "permit_listen any");
	if (bind_out)
		snprintf(bind_out, NET_HOST_MAX + 1, "%s", bind);
	return say(why, 1, "%s; gateway_ports = %s -> binds %s", rule, config_gateway_name(gw),
		   bind);
}

/* ---- `postern access --check` ---- */

static const struct config_key *find_key(const struct config_server *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nkeys; i++)
		if (strcmp(c->keys[i].name, name) == 0)
			return &c->keys[i];
	return NULL;
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "port", "host:port" or "[v6]:port" (port 0 = allocate) into ${host} and ${port}. */
static int parse_listen_request(const char *s, char host[NET_HOST_MAX + 1], uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	const char *start = s, *end = colon;

	host[0] = '\0';
	if (!colon)
		return net_parse_port(s, 1, port, NULL);
	if (s[0] == '[') {
		start = s + 1;
		end = strchr(s, ']');
		if (!end || end + 1 != colon)
			return -1;
	} else if (strchr(s, ':') != colon) {
		return -1;
	}
	if (end == start || (size_t)(end - start) > NET_HOST_MAX)
		return -1;
	memcpy(host, start, (size_t)(end - start));
	host[end - start] = '\0';
	if (strcmp(host, "*") != 0 && net_check_host(host, NULL) < 0)
		return -1;
	return net_parse_port(colon + 1, 1, port, NULL);
}

#define REQUEST_FORMS "HOST:PORT, listen:[HOST:]PORT, unix:/PATH or listen-unix:/PATH"

static int check_unix(const struct config_key *key, enum direction dir, const char *path, char *why)
{
	const char *bad = permit_check_unix_path(path);

	if (bad)
		return say(why, -1, "bad unix socket path: %s", bad);
	return unix_decision(key, dir, path, why);
}

int policy_check(const struct config_server *c, const char *name, const char *request, char *why)
{
	char host[NET_HOST_MAX + 1], bind[NET_HOST_MAX + 1], err[NET_ERR_MAX];
	const struct config_key *key;
	struct net_endpoint ep;
	uint16_t port;

	if (!c || !name || !request)
		return say(why, -1, "nothing to check");
	key = find_key(c, name);
	if (!key)
		return say(why, -1, "no [key %.*s] in the configuration", CONFIG_NAME_MAX, name);
	if (starts(request, "listen-unix:"))
		return check_unix(key, DIR_REMOTE, request + 12, why);
	/* "unix:22" is still the host "unix", port 22. */
	if (starts(request, "unix:") && strspn(request + 5, "0123456789") != strlen(request + 5))
		return check_unix(key, DIR_LOCAL, request + 5, why);
	if (starts(request, "listen:")) {
		if (parse_listen_request(request + 7, host, &port) < 0)
			return say(why, -1, "bad listen request; a request is " REQUEST_FORMS);
		return policy_may_listen(key, c->gateway_ports, host, port, bind, why);
	}
	if (net_parse_hostport(request, &ep, NULL, 0, err) < 0)
		return say(why, -1, "%s; a request is " REQUEST_FORMS, err);
	return policy_may_open(key, ep.host, ep.port, why);
}

/* ---- the matrix ---- */

/* File names and notes come from outside; keep each on one printable line. */
static const char *clean(const char *s, char out[SHOW_MAX + 4])
{
	size_t i;

	for (i = 0; s[i] && i < SHOW_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (s[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static void row(FILE *f, const char *label, const char *value)
{
	fprintf(f, "  %-*s%s\n", LABEL_WIDTH, label, value);
}

static size_t count_entries(const struct config_permit *list, size_t n, int is_unix)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += list[i].is_unix == is_unix;
	return k;
}

/* "denied (RULE)", plus how many written entries that rule makes dead. */
static void denied_row(FILE *f, const char *label, const char *rule, size_t unused,
		       const char *setting)
{
	char v[POLICY_WHY_MAX];

	if (unused)
		snprintf(v, sizeof(v), "denied (%s; %zu %s %s unused)", rule, unused, setting,
			 unused == 1 ? "entry" : "entries");
	else
		snprintf(v, sizeof(v), "denied (%s)", rule);
	row(f, label, v);
}

/* One value per line, the first beside the label. */
static void list_row(FILE *f, const char *label, const char *value, int *first)
{
	row(f, *first ? label : "", value);
	*first = 0;
}

static void print_local(FILE *f, const struct config_key *k)
{
	static const char label[] = "local (-L/-D)";
	const char *rule = gate_direction(k, DIR_LOCAL);
	size_t n = count_entries(k->permit, k->npermit, 0), i;
	char e[ENTRY_MAX];
	int first = 1;

	if (rule) {
		denied_row(f, label, rule, n + (size_t)(k->permit_any != 0), "permit_open");
		return;
	}
	if (k->permit_any) {
		row(f, label, "any host, any port (permit_open any)");
		return;
	}
	if (n == 0) {
		row(f, label, "denied (no permit_open)");
		return;
	}
	for (i = 0; i < k->npermit; i++)
		if (!k->permit[i].is_unix)
			list_row(f, label, format_entry(&k->permit[i], e, sizeof(e)), &first);
}

/*
 * A listen entry with a host can never match when gateway_ports fixes another
 * address; say so, and that only a '*' port lets the server pick one.
 */
static void listen_entry(FILE *f, const struct config_permit *p, int gw, int *first)
{
	char e[ENTRY_MAX], v[ENTRY_MAX + 64], fixed[NET_HOST_MAX + 1];

	format_entry(p, e, sizeof(e));
	if (gw != CONFIG_GW_CLIENT && bind_address(gw, "", fixed) == 0 &&
	    !listen_host_matches(p, fixed))
		snprintf(v, sizeof(v), "%s (never: gateway_ports = %s binds %s)", e,
			 config_gateway_name(gw), fixed);
	else if (p->port == 0)
		snprintf(v, sizeof(v), "%s (any port, or one the server picks)", e);
	else
		snprintf(v, sizeof(v), "%s", e);
	list_row(f, "remote (-R)", v, first);
}

static void print_remote(FILE *f, const struct config_key *k, int gw)
{
	static const char label[] = "remote (-R)";
	const char *rule = gate_direction(k, DIR_REMOTE);
	size_t n = count_entries(k->permit_listen, k->npermit_listen, 0), i;
	int first = 1;

	if (rule) {
		denied_row(f, label, rule, n + (size_t)(k->permit_listen_any != 0),
			   "permit_listen");
		return;
	}
	if (k->permit_listen_any) {
		row(f, label, "any port, on the address gateway_ports gives (permit_listen any)");
		return;
	}
	if (n == 0) {
		row(f, label, "denied (no permit_listen)");
		return;
	}
	for (i = 0; i < k->npermit_listen; i++)
		if (!k->permit_listen[i].is_unix)
			listen_entry(f, &k->permit_listen[i], gw, &first);
}

static void print_unix(FILE *f, const struct config_key *k, enum direction dir)
{
	const char *label = dir == DIR_LOCAL ? "unix target (-L)" : "unix listen (-R)";
	const char *setting = dir == DIR_LOCAL ? "permit_open" : "permit_listen";
	const struct config_permit *list = dir == DIR_LOCAL ? k->permit : k->permit_listen;
	size_t n = dir == DIR_LOCAL ? k->npermit : k->npermit_listen, i;
	size_t paths = count_entries(list, n, 1);
	const char *rule = gate_unix(k, dir);
	char v[POLICY_WHY_MAX];
	int first = 1;

	if (rule) {
		denied_row(f, label, rule, paths, setting);
		return;
	}
	if (paths == 0) {
		snprintf(v, sizeof(v), "denied (no %s path)", setting);
		row(f, label, v);
		return;
	}
	for (i = 0; i < n; i++)
		if (list[i].is_unix)
			list_row(f, label, list[i].path, &first);
}

/* "no (server default) -> binds 127.0.0.1 (loopback only)", from bind_address() itself. */
static void print_gateway(FILE *f, const struct config_key *k, int gw_default)
{
	int gw = effective_gateway(k, gw_default);
	char any[NET_HOST_MAX + 1], local[NET_HOST_MAX + 1], v[POLICY_WHY_MAX];
	const char *from = k->gateway_ports == CONFIG_GW_SERVER ? " (server default)" : "";

	bind_address(gw, "", any);
	bind_address(gw, "localhost", local);
	if (gw == CONFIG_GW_CLIENT) {
		snprintf(v, sizeof(v), "clientspecified%s -> binds the client's choice:", from);
		row(f, "gateway_ports", v);
		snprintf(v, sizeof(v), "unspecified or * -> %s, localhost -> %s,", any, local);
		row(f, "", v);
		row(f, "", "or the IP address it names");
		return;
	}
	snprintf(v, sizeof(v), "%s%s -> binds %s%s", config_gateway_name(gw), from, any,
		 strcmp(any, "*") == 0 ? " (all addresses)" : " (loopback only)");
	row(f, "gateway_ports", v);
}

/* The key's SPA policy ([spa] on only): what spa/spa.c grants a knock. */
static void print_spa(FILE *f, const struct config_key *k)
{
	char v[SHOW_MAX + 32], ep[NET_HOST_MAX + 16];
	size_t n = 0;

	v[0] = 0;
	for (size_t i = 0; i < k->nspa_access && n < SHOW_MAX; i++)
		n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%s/%u", i ? ", " : "",
				      k->spa_access[i].proto == 6 ? "tcp" : "udp",
				      k->spa_access[i].port);
	row(f, "spa_access", k->nspa_access ? v : "the tunnel's listen ports, tcp (default)");
	snprintf(v, sizeof(v), "%u s%s", k->spa_max_grant_s,
		 k->spa_max_grant_s == 300 ? " (default)" : "");
	row(f, "spa_max_grant", v);
	n = 0;
	v[0] = 0;
	for (size_t i = 0; i < k->nspa_forward && n < SHOW_MAX; i++)
		n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%s", i ? ", " : "",
				      net_format_endpoint(&k->spa_forward[i], ep, sizeof(ep)));
	row(f, "spa_forward", k->nspa_forward ? v : "none (default)");
	row(f, "spa_masquerade", k->spa_masquerade ? "yes" : "no (default)");
	row(f, "spa_trust_address",
	    k->spa_trust_address ? "yes: a knock may name the address to open"
				 : "no (default): only the knock's source is opened");
}

static void print_key(FILE *f, const struct config_server *c, size_t i, const char *note)
{
	const struct config_key *k = &c->keys[i];
	char head[CONFIG_NAME_MAX + 16], a[SHOW_MAX + 4], v[SHOW_MAX + 32];

	snprintf(head, sizeof(head), "[key %s]", k->name);
	if (c->file[0] && k->line > 0)
		fprintf(f, "%-*s%s:%d\n", LABEL_WIDTH + 2, head, clean(c->file, a), k->line);
	else
		fprintf(f, "%s\n", head);
	row(f, "key file", clean(k->key_file, a));
	if (note)
		row(f, "key id", clean(note, a));
	if (config_key_fwknop(k))
		row(f, "fwknop knocks", "yes (fwknop_key_base64, fwknop_hmac_key_base64)");
	/* Forwarding rows would suggest a tunnel this identity can never open. */
	if (!config_key_tunnel(k)) {
		row(f, "tunnel", "none: no key_file or public key, knocks only");
		return;
	}
	snprintf(v, sizeof(v), "%s%s", config_forwarding_name(k->allow_forwarding),
		 k->allow_forwarding == CONFIG_FWD_YES ? " (default)" : "");
	row(f, "allow_forwarding", v);
	row(f, "allow_unix_forwarding", k->allow_unix_forwarding ? "yes" : "no (default)");
	print_gateway(f, k, c->gateway_ports);
	print_local(f, k);
	print_remote(f, k, effective_gateway(k, c->gateway_ports));
	print_unix(f, k, DIR_LOCAL);
	print_unix(f, k, DIR_REMOTE);
	if (c->spa.nlisten > 0)
		print_spa(f, k);
}

void policy_print_matrix_notes(FILE *f, const struct config_server *c, const char *const *key_notes)
{
	char a[SHOW_MAX + 4], v[64];
	size_t i;

	if (!f || !c)
		return;
	fprintf(f, "access matrix for %s: %zu key%s\n", c->file[0] ? clean(c->file, a) : "flags",
		c->nkeys, c->nkeys == 1 ? "" : "s");
	fprintf(f, "\n[server]\n");
	snprintf(v, sizeof(v), "%s%s", config_gateway_name(server_gateway(c->gateway_ports)),
		 server_gateway(c->gateway_ports) == CONFIG_GW_NO ? " (default)" : "");
	row(f, "gateway_ports", v);
	for (i = 0; i < c->nkeys; i++) {
		fprintf(f, "\n");
		print_key(f, c, i, key_notes ? key_notes[i] : NULL);
	}
}

void policy_print_matrix(FILE *f, const struct config_server *c)
{
	policy_print_matrix_notes(f, c, NULL);
}
