/* SPDX-License-Identifier: MIT */
/*
 * spa/fw_nft: the nftables firewall backend. It owns one table, `inet
 * <table>` (default "postern"), and never touches another: guarded ports
 * default-drop in its input chain, and each grant is a set element (or a
 * DNAT map element) whose timeout is the time the grant has left, so the
 * kernel closes the port again even if postern dies. All changes go through
 * libnftables in one transaction per call; postern never runs `nft`.
 * The table's layout is in docs/ARCHITECTURE.md, "Firewall backends".
 * Needs CAP_NET_ADMIN in the network namespace for every call.
 */
#ifndef POSTERN_SPA_FW_NFT_H
#define POSTERN_SPA_FW_NFT_H

#include <stddef.h>

#include "spa/grant.h"
#include "spa/request.h"

enum {
	FW_NFT_TABLE_MAX = 31,	 /* nftables allows more; ours is a plain word */
	FW_NFT_GUARD_MAX = 64,	 /* guarded proto/port pairs */
	FW_NFT_SET_SIZE = 65536, /* elements per grant set or map (kernel memory bound) */
};

/* What to do about the kernel's forwarding switch when forward access is wanted. */
enum fw_nft_ipfwd {
	FW_NFT_IPFWD_CHECK = 0, /* refuse forward grants while it is off */
	FW_NFT_IPFWD_SET,	/* turn it on (write 1) */
	FW_NFT_IPFWD_IGNORE,	/* leave it alone and grant anyway */
};

struct fw_nft_config {
	char table[FW_NFT_TABLE_MAX + 1];
	struct spa_access guard[FW_NFT_GUARD_MAX];
	unsigned nguard;
	int remove_on_exit; /* stop deletes the table */
	int ip_forward;	    /* enum fw_nft_ipfwd */
	/* FW_NFT_FWD_* of the forward targets some identity may ask for: start
	 * looks at (or sets) ip_forward for those families. */
	int may_forward;
};

enum { FW_NFT_FWD_V4 = 1, FW_NFT_FWD_V6 = 2 };

/*
 * fw_nft_config_defaults(c): table "postern", no guard, remove_on_exit,
 * ip_forward check (the settings' defaults: src/conf/settings.c, block
 * "[spa] nftables backend").
 */
void fw_nft_config_defaults(struct fw_nft_config *c);

/* fw_nft_parse_guard(word, out, err): "tcp/22" or "udp/53" into ${out}; 0 or -1 with ${err}. */
int fw_nft_parse_guard(const char *word, struct spa_access *out, char *err);

/* fw_nft_parse_ip_forward(word): "check", "set" or "ignore" as enum fw_nft_ipfwd; -1 otherwise. */
int fw_nft_parse_ip_forward(const char *word);

/* fw_nft_check_table(name, err): 0 if ${name} is a usable table name ([A-Za-z0-9_], 1..31). */
int fw_nft_check_table(const char *name, char *err);

/*
 * fw_nft_new(c, err): a backend context for fw_nft_ops (copies ${c}); NULL
 * with ${err} (SPA_GRANT_ERR_MAX bytes) on a bad config or no libnftables
 * context. Touches no ruleset until start.
 */
void *fw_nft_new(const struct fw_nft_config *c, char *err);

/* fw_nft_free(ctx): free the context; does not stop (NULL is fine). */
void fw_nft_free(void *ctx);

/*
 * fw_nft_list(ctx, json, out, size, err): the live table as nftables lists
 * it (text, or JSON with ${json}), with each element's time left, for
 * `postern fw-list`. 0, or -1 with ${err} (also when ${size} is too small).
 */
int fw_nft_list(void *ctx, int json, char *out, size_t size, char *err);

extern const struct spa_backend_ops fw_nft_ops;

#endif
