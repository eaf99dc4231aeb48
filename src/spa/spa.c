/* SPDX-License-Identifier: MIT */
/*
 * spa/spa: the knock receiver and the grant life cycle.
 *
 * A datagram costs a stranger's sender nothing, so the receiver spends on
 * it only what the order allows: a length and a kind byte, then one AEAD
 * open per PSK identity (precomputed states, no DH), and only an
 * authenticated knock may touch the replay cache, the log on disk, the
 * policy and the backend. The receiver never writes to a UDP socket.
 */
#include "spa/spa.h"
#include "util/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/replay.h"
#include "fleet/fleet.h"
#include "guard/abuse.h"
#include "guard/dhrate.h"
#include "spa/fw_listener.h"
#include "spa/fw_nft.h"
#include "spa/fwknop.h"
#include "spa/packet.h"
#include "spa/ring.h"
#include "state/replay_file.h"
#include "util/log.h"

enum {
	SPA_SOCKETS_MAX = 16,
	SPA_MMSG = 64,			 /* datagrams per recvmmsg */
	SPA_PEND = 256,			 /* knocks per commit: one knock.log write each */
	SPA_SLOT = SPA_DATAGRAM_MAX + 1, /* one byte more shows a datagram too long */
	SPA_BATCHES = 16,		 /* recvmmsg calls per wakeup, so tunnels get their turn */
	SPA_RCVBUF = 4 << 20,	  /* socket buffer: a burst of junk does not push out a knock */
	SPA_TUNNEL_PORTS_MAX = 16 /* guarded listeners */
};

_Static_assert((int)SPA_PEND <= (int)REPLAY_FILE_BATCH_MAX, "a batch's records go in one write");

/* A knock that passed every check of judge(), waiting for its batch's one write to knock.log. */
struct spa_pending {
	struct spa_request req;
	struct spa_grant g;
	struct sockaddr_storage sa;
	int grant; /* 0: refused by policy, recorded all the same (as replayed, it stays refused) */
};

/* One identity's SPA policy, copied from its [key] so a reload cannot pull it away. */
struct spa_ident {
	char name[CONFIG_NAME_MAX + 1];
	struct config_port *access;
	size_t naccess;
	struct net_endpoint *forward;
	size_t nforward;
	unsigned max_grant_s;
	int masquerade, trust_address;
	int has_fwknop; /* fwknop_key_base64 and fwknop_hmac_key_base64 given */
	struct fwknop_key fwknop;
};

struct spa {
	uv_loop_t *loop;
	/* Our own recvmmsg on a polled socket, not uv_udp_t: libuv returns to
	 * epoll after every 20 datagrams, which halved the junk we could drop. */
	struct spa_sock {
		uv_poll_t poll;
		int fd;
		struct spa_ring *ring; /* receive = ring: read this; fd only holds the port */
	} udp[SPA_SOCKETS_MAX];
	size_t nudp;
	uv_timer_t timer;  /* the earliest expiry */
	uint64_t armed_ms; /* the expiry ${timer} is set for, 0 = none */
	/* While a wake-up's datagrams are judged, one clock reading serves them
	 * all (a batch takes microseconds; windows and grants count seconds). */
	uint64_t batch_ms;
	uint8_t *rxbuf; /* SPA_MMSG slots of SPA_SLOT bytes, shared: callbacks never overlap */
	struct spa_pending *pend; /* SPA_PEND of them, the same way */
	struct spa_keys *keys;
	struct spa_ik *ik; /* public-key identities, or NULL */
	struct dhrate *dh;
	uint32_t *psk_owner; /* PSK index -> identity index */
	struct spa_ident *ids;
	size_t nids;
	uint64_t *tags;
	struct replay *rp;
	struct replay_file *rf;
	unsigned window_s, grant_timeout_s;
	int receive;	   /* enum config_spa_receive */
	size_t ring_bytes; /* each ring's size */
	size_t quota;	   /* knock fingerprints one identity may hold */
	struct spa_table *table;
	struct spa_backend_ops ops;
	void *ctx;
	struct fw_listener *fl; /* the listener backend, or NULL */
	void *nft;		/* the nftables backend (spa/fw_nft.c), or NULL */
	struct spa_access guard[FW_NFT_GUARD_MAX]; /* its guarded ports */
	unsigned nguard;
	int guarded[SPA_TUNNEL_PORTS_MAX];
	uint16_t tunnel_ports[SPA_TUNNEL_PORTS_MAX];
	size_t nguarded;
	int (*banned)(void *arg, const struct sockaddr *sa, uint64_t now_ms);
	void *arg;
	uint64_t accepted, refused;
	struct log_limit limit;	   /* refusals logged per second (log_rate) */
	struct log_limit limit_ok; /* grant lines, apart: a refusal flood must not hide them */
	struct fleet *fleet;	   /* spa_set_fleet(): knocks claimed and grants shared; or NULL */
	struct spa_held *held;	   /* knocks waiting for the fleet's word */
};

/* An IPv4 peer on a dual-stack socket is ::ffff:a.b.c.d: grant it as IPv4. */
static void addr_normalize(struct spa_addr *a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (a->family == AF_INET6 && memcmp(a->addr, mapped, 12) == 0) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = AF_INET;
	}
}

static void addr_from(const struct sockaddr *sa, struct spa_addr *a, uint16_t *port)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		a->family = AF_INET;
		memcpy(a->addr, &in->sin_addr, 4);
		*port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		a->family = AF_INET6;
		memcpy(a->addr, &in6->sin6_addr, 16);
		*port = ntohs(in6->sin6_port);
	}
	addr_normalize(a);
}

static const char *addr_text(const struct spa_addr *a, char *buf, size_t len)
{
	if (a->family == 0 || inet_ntop(a->family, a->addr, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

/* ---- identities ---- */

static void ids_free(struct spa_ident *ids, size_t n)
{
	for (size_t i = 0; ids != NULL && i < n; i++) {
		free(ids[i].access);
		free(ids[i].forward);
		crypto_wipe(&ids[i].fwknop, sizeof(ids[i].fwknop));
	}
	free(ids);
}

static int ident_copy(struct spa_ident *d, const struct config_key *k)
{
	snprintf(d->name, sizeof(d->name), "%s", k->name);
	d->max_grant_s = k->spa_max_grant_s;
	d->masquerade = k->spa_masquerade;
	d->trust_address = k->spa_trust_address;
	/* For try_fwknop(): copied like the rest, wiped with it. */
	d->has_fwknop = config_key_fwknop(k);
	if (d->has_fwknop)
		d->fwknop = k->fwknop;
	d->naccess = k->nspa_access;
	d->nforward = k->nspa_forward;
	d->access = calloc(k->nspa_access + 1, sizeof(*d->access));
	d->forward = calloc(k->nspa_forward + 1, sizeof(*d->forward));
	if (d->access == NULL || d->forward == NULL)
		return -1;
	/* memcpy from an empty list's NULL is undefined, even for 0 bytes. */
	if (k->nspa_access > 0)
		memcpy(d->access, k->spa_access, k->nspa_access * sizeof(*d->access));
	if (k->nspa_forward > 0)
		memcpy(d->forward, k->spa_forward, k->nspa_forward * sizeof(*d->forward));
	return 0;
}

int spa_set_keys(struct spa *s, const struct config_server *cfg, const uint64_t *tags)
{
	size_t n = cfg->nkeys, npsk = 0;
	struct spa_ident *ids = calloc(n + 1, sizeof(*ids));
	const uint8_t **psks = calloc(n + 1, sizeof(*psks));
	uint32_t *owner = calloc(n + 1, sizeof(*owner));
	uint64_t *tg = calloc(n + 1, sizeof(*tg));
	const uint8_t **pubs = calloc(n + 1, sizeof(*pubs));
	uint32_t *pub_owner = calloc(n + 1, sizeof(*pub_owner));
	size_t npub = 0;
	struct spa_keys *keys = NULL;
	struct spa_ik *ik = NULL;
	int rc = -1;
	if (ids == NULL || psks == NULL || owner == NULL || tg == NULL || pubs == NULL ||
	    pub_owner == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct config_key *k = &cfg->keys[i];
		if (ident_copy(&ids[i], k) != 0)
			goto out;
		tg[i] = tags[i];
		if (k->has_public_key) {
			pubs[npub] = k->public_key;
			pub_owner[npub++] = (uint32_t)i;
			continue;
		}
		/* A knock-only (fwknop) identity has no PSK: its zero bytes are no key. */
		if (!config_key_tunnel(k))
			continue;
		psks[npsk] = k->psk;
		owner[npsk++] = (uint32_t)i;
	}
	if ((keys = spa_keys_new(psks, npsk)) == NULL)
		goto out;
	if (cfg->host_key[0] != '\0' && npub > 0 &&
	    (ik = spa_ik_new(cfg->host_priv, pubs, pub_owner, npub)) == NULL)
		goto out;
	if (s->rf != NULL && replay_file_set_tags(s->rf, tg, n) != 0)
		goto out;
	/* Renumbered identities: live entries stay, charged to none; new quotas. */
	if (replay_reown(s->rp, NULL, 0, (uint32_t)n, s->quota) != 0)
		goto out;
	spa_keys_free(s->keys);
	spa_ik_free(s->ik);
	s->ik = ik;
	ik = NULL;
	ids_free(s->ids, s->nids);
	free(s->psk_owner);
	free(s->tags);
	s->keys = keys;
	s->ids = ids;
	s->nids = n;
	s->psk_owner = owner;
	s->tags = tg;
	keys = NULL;
	ids = NULL;
	owner = NULL;
	tg = NULL;
	rc = 0;
out:
	spa_keys_free(keys);
	spa_ik_free(ik);
	ids_free(ids, n);
	free(psks);
	free(pubs);
	free(pub_owner);
	free(owner);
	free(tg);
	return rc;
}

/* ---- policy ---- */

static int access_allowed(const struct spa *s, const struct spa_ident *id,
			  const struct spa_access *a)
{
	if (id->naccess == 0) {
		/* By default a knock opens the tunnel, nothing else. */
		for (size_t i = 0; i < s->nguarded; i++)
			if (a->proto == SPA_PROTO_TCP && a->port == s->tunnel_ports[i])
				return 1;
		return 0;
	}
	for (size_t i = 0; i < id->naccess; i++)
		if (id->access[i].proto == a->proto && id->access[i].port == a->port)
			return 1;
	return 0;
}

static int ip_parse(const char *host, struct spa_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, a->addr) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, host, a->addr) == 1)
		a->family = AF_INET6;
	else
		return -1;
	addr_normalize(a);
	return 0;
}

static int forward_allowed(const struct spa_ident *id, const struct spa_addr *fa, uint16_t port)
{
	for (size_t i = 0; i < id->nforward; i++) {
		struct spa_addr o;
		if (id->forward[i].port == port && ip_parse(id->forward[i].host, &o) == 0 &&
		    o.family == fa->family && memcmp(o.addr, fa->addr, 16) == 0)
			return 1;
	}
	return 0;
}

/*
 * judge_policy(s, id, req, src, g, why): what the knock may have; fills the
 * parts of ${g} every grant of it shares. 0, or -1 with ${why}.
 */
static int judge_policy(const struct spa *s, const struct spa_ident *id,
			const struct spa_request *req, const struct spa_addr *src,
			struct spa_grant *g, char *why)
{
	memset(g, 0, sizeof(*g));
	g->src = *src;
	struct spa_addr allow = req->allow;
	addr_normalize(&allow);
	/* Naming one's own source (fwknop -a, as its docs advise behind no NAT) asks
	 * for nothing more than the packet already proves. */
	if (allow.family != 0 && allow.family == src->family &&
	    memcmp(allow.addr, src->addr, sizeof(allow.addr)) == 0)
		allow.family = 0;
	if (allow.family != 0) {
		if (!id->trust_address) {
			snprintf(why, SPA_WHY_MAX,
				 "asks for another address than its source (spa_trust_address = "
				 "no)");
			return -1;
		}
		g->src = allow;
	}
	for (unsigned i = 0; i < req->naccess; i++) {
		if (!access_allowed(s, id, &req->access[i])) {
			snprintf(why, SPA_WHY_MAX, "%s/%u not in spa_access",
				 req->access[i].proto == SPA_PROTO_TCP ? "tcp" : "udp",
				 req->access[i].port);
			return -1;
		}
	}
	if (req->has_forward) {
		if (ip_parse(req->forward_host, &g->forward_addr) != 0 ||
		    !forward_allowed(id, &g->forward_addr, req->forward_port)) {
			snprintf(why, SPA_WHY_MAX, "forward to %s:%u not in spa_forward",
				 req->forward_host, req->forward_port);
			return -1;
		}
		g->has_forward = 1;
		g->forward_port = req->forward_port;
		g->masquerade = id->masquerade;
	}
	if (req->timeout_s > id->max_grant_s) {
		snprintf(why, SPA_WHY_MAX, "asks for %u s, spa_max_grant is %u s", req->timeout_s,
			 id->max_grant_s);
		return -1;
	}
	/* Every knock passes here: a copy, not a formatted print. */
	size_t n = strnlen(id->name, sizeof(g->identity) - 1);
	memcpy(g->identity, id->name, n);
	g->identity[n] = '\0';
	return 0;
}

/*
 * refuse(s, sa, ident, why): log one refusal through the SPA's own copy of
 * the peer-line limit, so a flood costs no formatting: the sender's
 * address is only turned into text for a line that is written.
 */
static void refuse(struct spa *s, const struct sockaddr *sa, const char *ident, const char *why)
{
	struct spa_addr src;
	uint16_t port = 0;
	char a[INET6_ADDRSTRLEN];
	if (!log_limit_allow(&s->limit, uv_now(s->loop) / 1000))
		return;
	addr_from(sa, &src, &port);
	if (ident != NULL)
		log_info("knock refused peer=%s port=%u key=%s reason=%s",
			 addr_text(&src, a, sizeof(a)), port, ident, log_q(why));
	else
		log_info("knock refused peer=%s port=%u reason=%s", addr_text(&src, a, sizeof(a)),
			 port, log_q(why));
}

/* ---- grants ---- */

static void on_expire(uv_timer_t *t);

static uint64_t spa_now(const struct spa *s)
{
	return s->batch_ms != 0 ? s->batch_ms : clock_wall_ms();
}

static void rearm(struct spa *s)
{
	uint64_t next = spa_table_next_expiry(s->table), now = spa_now(s);
	if (next == 0) {
		uv_timer_stop(&s->timer);
		s->armed_ms = 0;
		return;
	}
	/* Extending a grant usually leaves the earliest expiry where it was. */
	if (next == s->armed_ms && uv_is_active((uv_handle_t *)&s->timer))
		return;
	s->armed_ms = next;
	uv_timer_start(&s->timer, on_expire, next > now ? next - now : 0, 0);
}

static void on_expire(uv_timer_t *t)
{
	struct spa *s = t->data;
	size_t n = spa_table_count(s->table), k = 0;
	struct spa_grant *gone = calloc(n + 1, sizeof(*gone));
	uint64_t now = clock_wall_ms();
	char err[SPA_GRANT_ERR_MAX], a[INET6_ADDRSTRLEN];
	if (gone == NULL) {
		/* Nothing leaves the table unrevoked: try again in a second. */
		log_warn("out of memory expiring grants, retrying");
		uv_timer_start(&s->timer, on_expire, 1000, 0);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct spa_grant *g = spa_table_get(s->table, i);
		if (g->expires_ms <= now)
			gone[k++] = *g;
	}
	spa_table_expire(s->table, now, NULL, NULL);
	/* Revoked after they left the table: a backend rebuilds from it. */
	for (size_t i = 0; i < k; i++) {
		log_info("grant expired src=%s access=%s/%u key=%s",
			 addr_text(&gone[i].src, a, sizeof(a)),
			 gone[i].proto == SPA_PROTO_TCP ? "tcp" : "udp", gone[i].port,
			 gone[i].identity);
		if (s->ops.revoke(s->ctx, &gone[i], err) != 0)
			log_warn("backend failed error=%s", log_q(err));
	}
	free(gone);
	rearm(s);
}

/* The backend's half of a table change: an extension may need nothing. */
static int backend_grant(struct spa *s, enum spa_table_result r, const struct spa_grant *g,
			 char *err)
{
	if (r == SPA_TABLE_ADDED)
		return s->ops.grant(s->ctx, g, err);
	return s->ops.extend != NULL ? s->ops.extend(s->ctx, g, err) : 0;
}

static void grant_all(struct spa *s, const struct spa_request *req, struct spa_grant *g,
		      const struct sockaddr *sa)
{
	char err[SPA_GRANT_ERR_MAX], a[INET6_ADDRSTRLEN];
	unsigned secs = req->timeout_s ? req->timeout_s : s->grant_timeout_s;
	uint64_t now = spa_now(s);
	g->expires_ms = now + (uint64_t)secs * 1000;
	for (unsigned i = 0; i < req->naccess; i++) {
		g->proto = req->access[i].proto;
		g->port = req->access[i].port;
		enum spa_table_result r = spa_table_add(s->table, g, now);
		if (r == SPA_TABLE_FULL) {
			refuse(s, sa, g->identity, "max_grants reached");
			break;
		}
		if (backend_grant(s, r, g, err) != 0) {
			refuse(s, sa, g->identity, err);
			if (r != SPA_TABLE_ADDED)
				continue;
			/* Undone in the backend too: some listeners may have taken it. */
			spa_table_remove(s->table, g);
			if (s->ops.revoke(s->ctx, g, err) != 0)
				log_warn("backend failed error=%s", log_q(err));
			continue;
		}
		/* A key holder can knock as fast as it can send: its lines are bounded
		 * like a stranger's (log_rate), on a budget of their own. */
		if (log_limit_allow(&s->limit_ok, uv_now(s->loop) / 1000))
			log_info("%s src=%s access=%s/%u seconds=%u key=%s label=%s",
				 r == SPA_TABLE_ADDED ? "granted" : "grant extended",
				 addr_text(&g->src, a, sizeof(a)),
				 g->proto == SPA_PROTO_TCP ? "tcp" : "udp", g->port, secs,
				 g->identity, log_q(req->label));
		fleet_publish_grant(s->fleet, g);
	}
	rearm(s);
}

static int fleet_hold_knock(struct spa *s, const struct spa_request *req, const struct spa_grant *g,
			    const struct sockaddr *sa);

/* ---- receiving ---- */

/*
 * try_fwknop(s, pkt, len, req, why): a fwknop 2.x packet for some identity
 * with fwknop keys. The decoder screens size and base64 before it spends an
 * HMAC, so junk costs each identity a few comparisons. 1 with req->owner,
 * -1 (an identity's HMAC matched, the contents are malformed) with ${why}
 * and req->owner, 0 when no identity's HMAC matches.
 */
static int try_fwknop(struct spa *s, const uint8_t *pkt, size_t len, struct spa_request *req,
		      char *why)
{
	for (size_t i = 0; i < s->nids; i++) {
		if (!s->ids[i].has_fwknop)
			continue;
		int r = fwknop_decode(pkt, len, &s->ids[i].fwknop, req, why);
		if (r == 0)
			continue;
		req->owner = (uint32_t)i;
		return r;
	}
	memset(req, 0, sizeof(*req));
	snprintf(why, SPA_WHY_MAX, "not a knock");
	return 0;
}

/* decode_ik: mac1 (one HMAC), then the source's DH budget, then the DH. */
static int decode_ik(struct spa *s, const uint8_t *pkt, size_t len, const struct sockaddr *sa,
		     struct spa_request *req, char *why)
{
	struct abuse_source src;
	memset(req, 0, sizeof(*req));
	if (!spa_ik_mac1(s->ik, pkt, len, why))
		return 0;
	if (abuse_source_from(sa, &src) != 0 || s->dh == NULL ||
	    !dhrate_take(s->dh, &src, clock_wall_ms())) {
		snprintf(why, SPA_WHY_MAX, "DH budget of the source spent (dh_rate)");
		return 0;
	}
	return spa_ik_decode(s->ik, pkt, len, req, why);
}

static const char *replay_reason(enum replay_verdict v)
{
	switch (v) {
	case REPLAY_OK:
		return NULL;
	case REPLAY_STALE:
		return "timestamp outside replay_window";
	case REPLAY_SEEN:
		return "replayed knock";
	case REPLAY_FULL:
		return "knock cache full";
	case REPLAY_QUOTA:
		break;
	}
	return "knock quota full";
}

/* decode(s, pkt, len, sa, req, why): as spa_decode(), for every kind; owner = identity index. */
static int decode(struct spa *s, const uint8_t *pkt, size_t len, const struct sockaddr *sa,
		  struct spa_request *req, char *why)
{
	int r;
	if (pkt[0] == SPA_KIND_IK)
		return decode_ik(s, pkt, len, sa, req, why);
	if (pkt[0] == SPA_KIND_PSK) {
		r = spa_decode(s->keys, pkt, len, req, why);
		if (r != 0)
			req->owner = s->psk_owner[req->owner];
		return r;
	}
	/* fwknop's datagrams are base64 text: their first byte is never 0x01 or 0x02. */
	snprintf(why, SPA_WHY_MAX, "not a knock");
	return try_fwknop(s, pkt, len, req, why);
}

/*
 * A PSK knock carries its fingerprint, e, in the clear at bytes 1..32: with a
 * length the kind allows, the knock cache can look for it while the AEAD runs
 * (replay_hint). Not for kind 0x02: its mac1 screens junk for one HMAC, which
 * the hash would add to, and its DH dwarfs what the hint saves.
 */
static int fingerprint_in_clear(const uint8_t *pkt, size_t len)
{
	return len >= SPA_PSK_MIN && len <= SPA_PSK_MAX && pkt[0] == SPA_KIND_PSK;
}

/*
 * judge(s, pkt, len, sa, p): 1 when the knock is authentic and fresh: it
 * waits in ${p} for its record (the knock cache already holds it, so the
 * rest of the batch cannot replay it), with p->grant 0 when the policy
 * refused it (logged). 0 when it was refused before that (logged).
 */
static int judge(struct spa *s, const uint8_t *pkt, size_t len, const struct sockaddr *sa,
		 struct spa_pending *p)
{
	struct spa_addr src;
	uint16_t sport = 0;
	char why[SPA_WHY_MAX];
	if (len > SPA_DATAGRAM_MAX) {
		snprintf(why, sizeof(why), "datagram over %d bytes", SPA_DATAGRAM_MAX);
		return refuse(s, sa, NULL, why), 0;
	}
	if (s->banned != NULL && s->banned(s->arg, sa, spa_now(s)))
		return refuse(s, sa, NULL, "banned"), 0;
	struct replay_hint hint, *hp = NULL;
	if (fingerprint_in_clear(pkt, len))
		replay_hint(s->rp, pkt + 1, hp = &hint);
	int r = decode(s, pkt, len, sa, &p->req, why);
	if (r <= 0 || p->req.owner >= s->nids)
		return refuse(s, sa, NULL, why), 0;
	const struct spa_ident *id = &s->ids[p->req.owner];
	const char *rr = replay_reason(
	    replay_check_hinted(s->rp, hp, p->req.id, p->req.ts_ms, spa_now(s), p->req.owner));
	if (rr != NULL)
		return refuse(s, sa, id->name, rr), 0;
	addr_from(sa, &src, &sport);
	p->grant = judge_policy(s, id, &p->req, &src, &p->g, why) == 0;
	if (!p->grant)
		return refuse(s, sa, id->name, why), 1;
	memcpy(&p->sa, sa,
	       sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in));
	return 1;
}

/*
 * commit(s, p, n): the batch's knocks go to knock.log in one write before
 * anything opens (a restart must not take one twice), then become grants.
 * Returns how many were accepted; the others were refused and logged.
 */
static int commit(struct spa *s, struct spa_pending *p, int n)
{
	struct replay_file_entry e[SPA_PEND];
	int accepted = 0;
	for (int i = 0; i < n; i++) {
		memcpy(e[i].id, p[i].req.id, sizeof(e[i].id));
		e[i].expiry_ms = p[i].req.ts_ms + (uint64_t)s->window_s * 1000;
		e[i].owner = p[i].req.owner;
	}
	if (s->rf != NULL && n > 0 && replay_file_append_n(s->rf, e, (size_t)n) != 0) {
		for (int i = 0; i < n; i++)
			if (p[i].grant)
				refuse(s, (struct sockaddr *)&p[i].sa, s->ids[p[i].req.owner].name,
				       "not recorded (state directory)");
		return 0;
	}
	for (int i = 0; i < n; i++) {
		if (!p[i].grant)
			continue;
		if (s->fleet != NULL) {
			accepted +=
			    fleet_hold_knock(s, &p[i].req, &p[i].g, (struct sockaddr *)&p[i].sa);
			continue;
		}
		grant_all(s, &p[i].req, &p[i].g, (struct sockaddr *)&p[i].sa);
		accepted++;
	}
	return accepted;
}

/* A wake-up's datagrams so far: judged into s->pend, committed in batches. */
struct spa_batch {
	struct spa *s;
	int judged, npend;
};

static void batch_flush(struct spa_batch *b)
{
	struct spa *s = b->s;
	int ok = commit(s, s->pend, b->npend);
	s->accepted += (uint64_t)ok;
	s->refused += (uint64_t)(b->judged - ok);
	b->judged = b->npend = 0;
	s->batch_ms = clock_wall_ms();
}

static void batch_add(struct spa_batch *b, const uint8_t *pkt, size_t len,
		      const struct sockaddr *sa)
{
	b->judged++;
	b->npend += judge(b->s, pkt, len, sa, &b->s->pend[b->npend]);
	if (b->npend == SPA_PEND)
		batch_flush(b);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct spa *s = h->data;
	struct spa_sock *k = (struct spa_sock *)(void *)h;
	struct mmsghdr m[SPA_MMSG];
	struct iovec iov[SPA_MMSG];
	struct sockaddr_storage from[SPA_MMSG];
	struct spa_batch b = {.s = s};

	(void)events;
	if (status < 0)
		return;
	s->batch_ms = clock_wall_ms();
	for (int n = SPA_MMSG, rounds = 0; n == SPA_MMSG && rounds < SPA_BATCHES; rounds++) {
		for (int i = 0; i < SPA_MMSG; i++) {
			iov[i] = (struct iovec){s->rxbuf + (size_t)i * SPA_SLOT, SPA_SLOT};
			m[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
						       .msg_namelen = sizeof(from[i]),
						       .msg_iov = &iov[i],
						       .msg_iovlen = 1};
		}
		n = recvmmsg(k->fd, m, SPA_MMSG, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++)
			if (m[i].msg_len > 0)
				batch_add(&b, iov[i].iov_base, m[i].msg_len,
					  (struct sockaddr *)&from[i]);
	}
	batch_flush(&b);
	s->batch_ms = 0;
}

static void ring_frame(void *arg, const struct spa_frame *f)
{
	batch_add(arg, f->payload, f->len, (const struct sockaddr *)&f->src);
}

/* The same budget per wake-up as the socket's, so tunnels get their turn. */
static void on_ring_readable(uv_poll_t *h, int status, int events)
{
	struct spa_sock *k = (struct spa_sock *)(void *)h;
	struct spa *s = h->data;
	struct spa_batch b = {.s = s};

	(void)events;
	if (status < 0)
		return;
	s->batch_ms = clock_wall_ms();
	spa_ring_read(k->ring, ring_frame, &b, (size_t)SPA_MMSG * SPA_BATCHES);
	batch_flush(&b);
	s->batch_ms = 0;
}

/* A non-blocking UDP socket bound to ${sa}, with a big receive buffer, or -1 (errno);
 * with ${drop_all}, one that only holds the port (a ring reads the knocks). */
static int udp_socket(const struct sockaddr *sa, socklen_t salen, int drop_all)
{
	int one = 1, buf = SPA_RCVBUF;
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* FORCE passes rmem_max where we may (root); else the plain call, capped. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	/* [::] and 0.0.0.0 side by side, as the tunnel's listeners. */
	if ((drop_all && spa_socket_drop_all(fd) != 0) ||
	    (sa->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, sa, salen) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int bind_one(struct spa *s, const struct sockaddr *sa, socklen_t salen, const char *spec,
		    char *err)
{
	if (s->nudp >= SPA_SOCKETS_MAX) {
		snprintf(err, SPA_GRANT_ERR_MAX, "[spa] listen: too many addresses (max %d)",
			 SPA_SOCKETS_MAX);
		return -1;
	}
	struct spa_sock *k = &s->udp[s->nudp];
	int ring = s->receive == CONFIG_SPA_RING;
	k->fd = udp_socket(sa, salen, ring);
	if (k->fd < 0) {
		snprintf(err, SPA_GRANT_ERR_MAX, "[spa] listen %s: %s", spec, strerror(errno));
		return -1;
	}
	char rerr[SPA_RING_ERR_MAX];
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	/* The socket's own address: a port 0 in the configuration is known only now. */
	if (ring &&
	    (getsockname(k->fd, (struct sockaddr *)&bound, &blen) != 0 ||
	     (k->ring = spa_ring_open((struct sockaddr *)&bound, s->ring_bytes, rerr)) == NULL)) {
		close(k->fd);
		snprintf(err, SPA_GRANT_ERR_MAX, "[spa] listen %s: %s", spec, rerr);
		return -1;
	}
	int rc = uv_poll_init(s->loop, &k->poll, ring ? spa_ring_fd(k->ring) : k->fd);
	if (rc != 0) {
		spa_ring_close(k->ring);
		k->ring = NULL;
		close(k->fd);
		snprintf(err, SPA_GRANT_ERR_MAX, "[spa] listen %s: %s", spec, uv_strerror(rc));
		return -1;
	}
	k->poll.data = s;
	s->nudp++;
	rc = uv_poll_start(&k->poll, UV_READABLE, ring ? on_ring_readable : on_readable);
	if (rc != 0) {
		snprintf(err, SPA_GRANT_ERR_MAX, "[spa] listen %s: %s", spec, uv_strerror(rc));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char name[INET6_ADDRSTRLEN];
	struct spa_addr a;
	uint16_t port = 0;
	if (getsockname(k->fd, (struct sockaddr *)&ss, &len) == 0) {
		addr_from((struct sockaddr *)&ss, &a, &port);
		log_info("knocks listening addr=%s%s%s:%u receive=%s",
			 ss.ss_family == AF_INET6 ? "[" : "", addr_text(&a, name, sizeof(name)),
			 ss.ss_family == AF_INET6 ? "]" : "", port, ring ? "ring" : "socket");
	}
	return 0;
}

static int bind_all(struct spa *s, const struct config_spa *c, char *err)
{
	for (size_t i = 0; i < c->nlisten; i++) {
		const struct net_endpoint *ep = &c->listen[i];
		char port[8], spec[NET_HOST_MAX + 16];
		struct addrinfo hints = {.ai_family = AF_UNSPEC,
					 .ai_socktype = SOCK_DGRAM,
					 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
				*res = NULL;
		snprintf(port, sizeof(port), "%u", (unsigned)ep->port);
		net_format_endpoint(ep, spec, sizeof(spec));
		const char *host = strcmp(ep->host, "*") == 0 ? NULL : ep->host;
		int g = getaddrinfo(host, port, &hints, &res);
		if (g != 0) {
			snprintf(err, SPA_GRANT_ERR_MAX, "[spa] listen %s: %s", spec,
				 gai_strerror(g));
			return -1;
		}
		int rc = 0;
		for (struct addrinfo *ai = res; ai != NULL && rc == 0; ai = ai->ai_next)
			rc = bind_one(s, ai->ai_addr, ai->ai_addrlen, spec, err);
		freeaddrinfo(res);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* ---- backends ---- */

static int backend_listener(struct spa *s, char *err)
{
	s->fl = fw_listener_new(s->table);
	if (s->fl == NULL) {
		snprintf(err, SPA_GRANT_ERR_MAX, "out of memory");
		return -1;
	}
	fw_listener_ops(&s->ops);
	s->ctx = s->fl;
	return 0;
}

/* may_forward(cfg): FW_NFT_FWD_* of every family some identity may forward to. */
static int may_forward(const struct config_server *cfg)
{
	int fams = 0;
	for (size_t i = 0; i < cfg->nkeys; i++) {
		for (size_t j = 0; j < cfg->keys[i].nspa_forward; j++) {
			struct spa_addr a;
			if (ip_parse(cfg->keys[i].spa_forward[j].host, &a) != 0)
				continue;
			fams |= a.family == AF_INET6 ? FW_NFT_FWD_V6 : FW_NFT_FWD_V4;
		}
	}
	return fams;
}

static int backend_nftables(struct spa *s, const struct config_server *cfg, char *err)
{
	const struct config_spa *c = &cfg->spa;
	struct fw_nft_config nc;
	fw_nft_config_defaults(&nc);
	snprintf(nc.table, sizeof(nc.table), "%s", c->nft_table);
	_Static_assert(sizeof(nc.guard) == sizeof(c->guard), "guard lists of one size");
	memcpy(nc.guard, c->guard, sizeof(nc.guard));
	nc.nguard = c->nguard;
	nc.remove_on_exit = c->nft_remove_on_exit;
	nc.ip_forward = c->ip_forward;
	nc.may_forward = may_forward(cfg);
	memcpy(s->guard, c->guard, sizeof(s->guard));
	s->nguard = c->nguard;
	s->nft = fw_nft_new(&nc, err);
	if (s->nft == NULL)
		return -1;
	s->ops = fw_nft_ops;
	s->ctx = s->nft;
	return 0;
}

int spa_new(const struct spa_params *p, struct spa **out, char *err)
{
	const struct config_spa *c = &p->cfg->spa;
	struct spa *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (s == NULL) {
		snprintf(err, SPA_GRANT_ERR_MAX, "out of memory");
		return -1;
	}
	s->loop = p->loop;
	s->window_s = p->cfg->replay_window_s;
	s->grant_timeout_s = c->grant_timeout_s;
	s->receive = c->receive;
	s->ring_bytes = (size_t)c->ring_kib * 1024;
	s->banned = p->banned;
	s->limit.rate = p->cfg->log_rate;
	s->limit_ok.rate = p->cfg->log_rate;
	s->dh = p->dh;
	s->arg = p->arg;
	s->rxbuf = malloc(SPA_MMSG * SPA_SLOT);
	s->pend = calloc(SPA_PEND, sizeof(*s->pend));
	s->table = spa_table_new(c->max_grants);
	s->rp = replay_new(s->window_s, c->knock_cache);
	/* One key holder must not fill the cache that protects the others. */
	s->quota = p->cfg->replay_quota < c->knock_cache ? p->cfg->replay_quota : c->knock_cache;
	if (s->rxbuf == NULL || s->pend == NULL || s->table == NULL || s->rp == NULL ||
	    spa_set_keys(s, p->cfg, p->tags) != 0) {
		snprintf(err, SPA_GRANT_ERR_MAX, "out of memory");
		goto fail;
	}
	if ((c->backend == CONFIG_SPA_NFTABLES ? backend_nftables(s, p->cfg, err)
					       : backend_listener(s, err)) != 0)
		goto fail;
	if (p->state_dir != NULL) {
		char rerr[REPLAY_FILE_ERR_MAX];
		s->rf = replay_file_open_name(s->loop, p->state_dir, REPLAY_FILE_KNOCKS, 0, s->rp,
					      s->tags, s->nids, clock_wall_ms(), rerr);
		if (s->rf == NULL) {
			snprintf(err, SPA_GRANT_ERR_MAX, "%s", rerr);
			goto fail;
		}
	}
	if (s->ops.start(s->ctx, err) != 0)
		goto fail;
	/* From the first handle on, ${s} is the owner's to free after its walk. */
	*out = s;
	uv_timer_init(s->loop, &s->timer);
	s->timer.data = s;
	if (bind_all(s, c, err) != 0)
		return -1;
	log_info("ready backend=%s grant_timeout=%u max_grants=%u", s->ops.name, s->grant_timeout_s,
		 c->max_grants);
	return 0;
fail:
	spa_free(s);
	return -1;
}

/* nft_guarded(s, port): the nftables backend drops tcp/${port} until a grant. */
static int nft_guarded(const struct spa *s, uint16_t port)
{
	for (unsigned i = 0; i < s->nguard; i++)
		if (s->guard[i].proto == SPA_PROTO_TCP && s->guard[i].port == port)
			return 1;
	return 0;
}

int spa_guard(struct spa *s, int fd, char *err)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (s->nguarded >= SPA_TUNNEL_PORTS_MAX ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(err, SPA_GRANT_ERR_MAX, "spa: cannot guard listener");
		return -1;
	}
	struct spa_addr a;
	uint16_t port = 0;
	addr_from((struct sockaddr *)&ss, &a, &port);
	if (s->fl != NULL && fw_listener_guard(s->fl, fd, err) != 0)
		return -1;
	if (s->nft != NULL && !nft_guarded(s, port))
		log_warn("tunnel port not guarded, open without a knock port=%u backend=nftables",
			 port);
	s->guarded[s->nguarded] = fd;
	s->tunnel_ports[s->nguarded++] = port;
	return 0;
}

void spa_unguard(struct spa *s, int fd)
{
	if (s == NULL)
		return;
	fw_listener_unguard(s->fl, fd);
	for (size_t i = 0; i < s->nguarded; i++) {
		if (s->guarded[i] != fd)
			continue;
		s->guarded[i] = s->guarded[s->nguarded - 1];
		s->tunnel_ports[i] = s->tunnel_ports[s->nguarded - 1];
		s->nguarded--;
		return;
	}
}

void spa_accepted(struct spa *s, int fd)
{
	if (s != NULL && s->fl != NULL)
		fw_listener_accepted(fd);
}

void spa_revoke_source(struct spa *s, const uint8_t *bytes, size_t len)
{
	char err[SPA_GRANT_ERR_MAX], a[INET6_ADDRSTRLEN];
	int family = len == 4 ? AF_INET : AF_INET6;
	if (s == NULL || (len != 4 && len != 8))
		return;
	for (size_t i = 0; i < spa_table_count(s->table);) {
		struct spa_grant g = *spa_table_get(s->table, i);
		if (g.src.family != family || memcmp(g.src.addr, bytes, len) != 0) {
			i++;
			continue;
		}
		spa_table_remove(s->table, &g);
		log_info("grant revoked reason=banned src=%s access=%s/%u",
			 addr_text(&g.src, a, sizeof(a)), g.proto == SPA_PROTO_TCP ? "tcp" : "udp",
			 g.port);
		if (s->ops.revoke(s->ctx, &g, err) != 0)
			log_warn("backend failed error=%s", log_q(err));
	}
	rearm(s);
}

void spa_each_grant(const struct spa *s, void (*fn)(void *arg, const struct spa_grant *g),
		    void *arg)
{
	if (s != NULL)
		spa_table_each(s->table, fn, arg);
}

int spa_kernel_list(const struct spa *s, int json, char *out, size_t size, char *err)
{
	if (s == NULL) {
		snprintf(err, SPA_GRANT_ERR_MAX, "SPA is off (no [spa] section)");
		return -1;
	}
	if (s->nft == NULL) {
		snprintf(err, SPA_GRANT_ERR_MAX,
			 "the %s backend keeps no kernel table: fw-list without --kernel shows "
			 "its grants",
			 s->ops.name);
		return -1;
	}
	return fw_nft_list(s->nft, json, out, size, err);
}

void spa_get_stats(const struct spa *s, struct spa_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (s == NULL)
		return;
	st->knocks_accepted = s->accepted;
	st->knocks_refused = s->refused;
	for (size_t i = 0; i < s->nudp; i++)
		st->ring_drops += spa_ring_drops(s->udp[i].ring);
	st->grants = spa_table_count(s->table);
}

const char *spa_backend_name(const struct spa *s)
{
	return s != NULL && s->ops.name != NULL ? s->ops.name : "none";
}

/* ---- the fleet (fleet/fleet.c): knocks claimed fleet-wide, grants shared ---- */

/* A knock accepted here, waiting for the fleet's claim before it opens anything. */
struct spa_held {
	struct spa *s;
	struct spa_held *prev, *next;
	struct fleet_op *op;
	struct spa_request req;
	struct spa_grant g;
	struct sockaddr_storage sa;
};

static void held_free(struct spa_held *h)
{
	struct spa *s = h->s;
	if (h->prev)
		h->prev->next = h->next;
	else
		s->held = h->next;
	if (h->next)
		h->next->prev = h->prev;
	fleet_cancel(h->op);
	free(h);
}

/* held_judge(s, h, v): 1 when the knock became grants, 0 when refused (as judge()). */
static int held_judge(struct spa *s, struct spa_held *h, enum fleet_verdict v)
{
	const char *why = v == FLEET_SEEN ? "replayed (accepted by another gateway of the fleet)"
			  : v == FLEET_DOWN && fleet_fail_closed(s->fleet)
			      ? "fleet unreachable (fail_closed)"
			      : NULL;
	if (why == NULL) {
		grant_all(s, &h->req, &h->g, (struct sockaddr *)&h->sa);
		return 1;
	}
	refuse(s, (struct sockaddr *)&h->sa, s->ids[h->req.owner].name, why);
	return 0;
}

static void on_knock_claim(void *arg, enum fleet_verdict v)
{
	struct spa_held *h = arg;
	h->op = NULL;
	/* A reload may have removed the identity meanwhile. judge() counted the
	 * knock as accepted when it went to the fleet: a refusal corrects that. */
	if (h->req.owner < h->s->nids && held_judge(h->s, h, v) == 0) {
		h->s->accepted--;
		h->s->refused++;
	}
	held_free(h);
}

static int fleet_hold_knock(struct spa *s, const struct spa_request *req, const struct spa_grant *g,
			    const struct sockaddr *sa)
{
	struct spa_held *h = calloc(1, sizeof(*h));
	uint64_t end = req->ts_ms + (uint64_t)s->window_s * 1000, now = clock_wall_ms();
	if (h == NULL)
		return refuse(s, sa, s->ids[req->owner].name, "out of memory"), 0;
	h->s = s;
	h->req = *req;
	h->g = *g;
	memcpy(&h->sa, sa,
	       sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in));
	h->next = s->held;
	if (s->held)
		s->held->prev = h;
	s->held = h;
	enum fleet_verdict v = fleet_claim(s->fleet, "knock", req->id, sizeof(req->id),
					   end > now ? end - now : 1, on_knock_claim, h, &h->op);
	if (v == FLEET_PENDING)
		return 1;
	int granted = held_judge(s, h, v);
	held_free(h);
	return granted;
}

void spa_set_fleet(struct spa *s, struct fleet *f)
{
	if (s == NULL)
		return;
	while (f == NULL && s->held != NULL)
		held_free(s->held);
	s->fleet = f;
}

int spa_apply_grant(struct spa *s, const struct spa_grant *g)
{
	char err[SPA_GRANT_ERR_MAX], a[INET6_ADDRSTRLEN];
	uint64_t now = clock_wall_ms();
	if (s == NULL || g->expires_ms <= now)
		return -1;
	enum spa_table_result r = spa_table_add(s->table, g, now);
	if (r == SPA_TABLE_FULL) {
		log_warn("fleet grant dropped reason=\"max_grants reached\" origin=%s",
			 log_q(g->origin));
		return -1;
	}
	if (backend_grant(s, r, g, err) != 0) {
		log_warn("fleet grant failed error=%s origin=%s", log_q(err), log_q(g->origin));
		if (r == SPA_TABLE_ADDED) {
			spa_table_remove(s->table, g);
			s->ops.revoke(s->ctx, g, err);
		}
		return -1;
	}
	log_info("%s src=%s access=%s/%u seconds=%llu key=%s origin=%s",
		 r == SPA_TABLE_ADDED ? "granted" : "grant extended",
		 addr_text(&g->src, a, sizeof(a)), g->proto == SPA_PROTO_TCP ? "tcp" : "udp",
		 g->port, (unsigned long long)((g->expires_ms - now + 999) / 1000),
		 log_q(g->identity), log_q(g->origin));
	rearm(s);
	return 0;
}

void spa_free(struct spa *s)
{
	if (s == NULL)
		return;
	spa_set_fleet(s, NULL);
	if (s->ops.stop != NULL)
		s->ops.stop(s->ctx);
	fw_listener_free(s->fl);
	fw_nft_free(s->nft);
	replay_file_close(s->rf);
	replay_free(s->rp);
	spa_table_free(s->table);
	spa_keys_free(s->keys);
	spa_ik_free(s->ik);
	ids_free(s->ids, s->nids);
	free(s->psk_owner);
	free(s->tags);
	/* The poll handles were closed with the loop's others; the sockets are ours. */
	for (size_t i = 0; i < s->nudp; i++) {
		spa_ring_close(s->udp[i].ring);
		close(s->udp[i].fd);
	}
	free(s->rxbuf);
	if (s->pend != NULL)
		crypto_wipe(s->pend, SPA_PEND * sizeof(*s->pend));
	free(s->pend);
	free(s);
}
