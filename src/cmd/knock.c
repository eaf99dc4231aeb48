/* SPDX-License-Identifier: MIT */
/*
 * knock: `postern knock -k KEY -A tcp/PORT [...] GATEWAY[:PORT]`: one knock
 * (docs/PROTOCOL.md, "Knocks") that asks a server with [spa] to open ports
 * for this host. Exits 0 once the datagram is sent; the server never
 * answers, so whether it opened anything shows only in the next connect.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "crypto/crypto.h"
#include "spa/knock.h"
#include "spa/packet.h"
#include "util/keys.h"
#include "util/net.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: postern knock -k KEYFILE -A tcp/PORT|udp/PORT [-A ...] [--forward ADDR:PORT]\n"
	    "                     [--allow ADDR] [--timeout SEC] [--label TEXT] [--save FILE]\n"
	    "                     GATEWAY[:PORT]\n"
	    "\n"
	    "Sends one knock (UDP, default port %d) asking GATEWAY's postern server\n"
	    "to open the ports (-A, up to %d) for this host's address (or --allow ADDR,\n"
	    "if the key may name one) for --timeout seconds (0: the server's\n"
	    "grant_timeout). --forward asks for DNAT to ADDR:PORT (backend nftables).\n"
	    "--save writes the datagram sent to FILE. Nothing comes back.\n",
	    SPA_DEFAULT_PORT, SPA_ACCESS_MAX);
}

static int parse_access(const char *s, struct spa_access *a)
{
	unsigned port;
	if (strncmp(s, "tcp/", 4) == 0)
		a->proto = SPA_PROTO_TCP;
	else if (strncmp(s, "udp/", 4) == 0)
		a->proto = SPA_PROTO_UDP;
	else
		return -1;
	if (cmd_parse_uint(s + 4, 1, 65535, &port) != 0)
		return -1;
	a->port = (uint16_t)port;
	return 0;
}

static int parse_forward(const char *s, struct spa_request *req)
{
	struct net_endpoint ep;
	char err[NET_ERR_MAX];
	struct spa_addr tmp;
	if (net_parse_hostport(s, &ep, NULL, 0, err) != 0 || spa_addr_parse(ep.host, &tmp) != 0)
		return -1;
	snprintf(req->forward_host, sizeof(req->forward_host), "%s", ep.host);
	req->forward_port = ep.port;
	req->has_forward = 1;
	return 0;
}

/* parse(argc, argv, req, key, save, gw): 0, 1 (help) or -1 (message printed). */
static int parse(int argc, char **argv, struct spa_request *req, const char **key,
		 const char **save, const char **gw, const char **server_key)
{
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned t;
		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0)
			return 1;
		if (o[0] != '-') {
			if (*gw != NULL) {
				fprintf(stderr, "postern knock: one gateway only ('%s')\n", o);
				return -1;
			}
			*gw = o;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "postern knock: %s needs an argument\n", o);
			return -1;
		}
		i++;
		if (strcmp(o, "-k") == 0 || strcmp(o, "--key") == 0) {
			*key = v;
		} else if (strcmp(o, "-A") == 0 || strcmp(o, "--access") == 0) {
			if (req->naccess >= SPA_ACCESS_MAX ||
			    parse_access(v, &req->access[req->naccess]) != 0) {
				fprintf(
				    stderr,
				    "postern knock: -A '%s': tcp/PORT or udp/PORT, at most %d\n", v,
				    SPA_ACCESS_MAX);
				return -1;
			}
			req->naccess++;
		} else if (strcmp(o, "--forward") == 0) {
			if (parse_forward(v, req) != 0) {
				fprintf(stderr,
					"postern knock: --forward '%s': IP:PORT or [IPV6]:PORT\n",
					v);
				return -1;
			}
		} else if (strcmp(o, "--allow") == 0) {
			if (spa_addr_parse(v, &req->allow) != 0) {
				fprintf(stderr, "postern knock: --allow '%s': an IP address\n", v);
				return -1;
			}
		} else if (strcmp(o, "--timeout") == 0) {
			if (cmd_parse_uint(v, 0, 65535, &t) != 0) {
				fprintf(stderr, "postern knock: --timeout '%s': 0..65535 seconds\n",
					v);
				return -1;
			}
			req->timeout_s = t;
		} else if (strcmp(o, "--label") == 0) {
			size_t n = strlen(v);
			int ok = n <= SPA_LABEL_MAX;
			for (size_t j = 0; ok && j < n; j++)
				ok = v[j] >= 0x20 && v[j] <= 0x7e;
			if (!ok) {
				fprintf(
				    stderr,
				    "postern knock: --label: at most %d printable ASCII bytes\n",
				    SPA_LABEL_MAX);
				return -1;
			}
			snprintf(req->label, sizeof(req->label), "%s", v);
		} else if (strcmp(o, "--save") == 0) {
			*save = v;
		} else if (strcmp(o, "--server-key") == 0) {
			*server_key = v;
		} else {
			fprintf(stderr,
				"postern knock: unknown option '%s' (see 'postern knock --help')\n",
				o);
			return -1;
		}
	}
	return 0;
}

int cmd_knock(int argc, char **argv)
{
	struct spa_request req = {0};
	const char *key = NULL, *save = NULL, *gw = NULL, *server_key = NULL;
	struct knock_key k = {0};
	enum keys_kind kind;
	char err[512];
	struct net_endpoint ep;
	char nerr[NET_ERR_MAX];
	int p = parse(argc, argv, &req, &key, &save, &gw, &server_key);
	if (p != 0) {
		if (p > 0)
			usage(stdout);
		return p > 0 ? 0 : EXIT_USAGE;
	}
	if (key == NULL || gw == NULL || req.naccess == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* GATEWAY alone takes the default port; [v6] and host:port as everywhere. */
	if (net_parse_hostport(gw, &ep, NULL, 0, nerr) != 0) {
		char spec[NET_HOST_MAX + 16];
		/* "[V6]" and a bare V6 address take the default port too. */
		const char *fmt = gw[0] == '['		    ? "%s:%d"
				  : strchr(gw, ':') != NULL ? "[%s]:%d"
							    : "%s:%d";
		snprintf(spec, sizeof(spec), fmt, gw, SPA_DEFAULT_PORT);
		if (net_parse_hostport(spec, &ep, NULL, 0, nerr) != 0) {
			fprintf(stderr, "postern knock: %s: %s\n", gw, nerr);
			return EXIT_USAGE;
		}
	}
	int rc = EXIT_RUNTIME;
	if (keys_load_any(key, &kind, k.key, err) != 0) {
		fprintf(stderr, "postern knock: %s\n", err);
		goto out;
	}
	k.ik = kind == KEYS_X25519;
	if (k.ik != (server_key != NULL)) {
		fprintf(
		    stderr, "postern knock: %s\n",
		    k.ik ? "an x25519 key needs the server's public key: --server-key FILE|BASE64"
			 : "--server-key goes with an x25519 key pair; this is a pre-shared key");
		rc = EXIT_USAGE;
		goto out;
	}
	if (k.ik && keys_load_public(server_key, k.server_pub, err) != 0) {
		fprintf(stderr, "postern knock: --server-key: %s\n", err);
		goto out;
	}
	if (knock_send(&k, &req, ep.host, ep.port, save, err) != 0) {
		fprintf(stderr, "postern knock: %s\n", err);
		goto out;
	}
	rc = 0;
out:
	crypto_wipe(&k, sizeof(k));
	return rc;
}
