/* SPDX-License-Identifier: MIT */
/*
 * abuse: a fixed pool of sources, found through a keyed hash. Each tracked
 * source sits on exactly one list, chosen by what pins it:
 *  - level k (k = 1..top): k connections pending. Changes are +-1, so the
 *    highest non-empty level is kept in O(1) and its head is the busiest
 *    source, needed whenever the global cap is reached.
 *  - banned: nothing pending, ban in force. FIFO by when it joined.
 *  - idle: nothing pending, no ban; least recently seen first.
 * A new source takes a free slot, else the head of the banned list if that
 * ban is over, else the head of the idle list, else it is refused. So a
 * pending or banned source is never forgotten while another candidate
 * exists, and every operation is O(1) expected.
 *
 * The banned list is not sorted by ban end (a source that was busy when
 * banned joins late), so an ended ban can hide behind a live one. That only
 * delays reuse of its slot, by at most one ban time, and errs towards
 * remembering. When every slot is pinned, a new source is refused and its
 * failures go uncounted; pinning them all takes table_size banned sources
 * (pending ones are capped by max_unauth), and refusing fails closed.
 *
 * Zero in a limit means no limit: max_unauth, max_unauth_per_source; a zero
 * ban_threshold or ban_time_s disables banning.
 */
#include "guard/abuse.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

#define NIL UINT32_MAX

enum {
	ABUSE_DEFAULT_TABLE = 4096,
	ABUSE_MAX_TABLE = 1 << 24,
	/* Sources with this many pending or more share the top level; bounds memory. */
	ABUSE_MAX_LEVELS = 1024,
};

enum {
	LIST_FREE = 0,
	LIST_IDLE = 1,
	LIST_BANNED = 2,
	LIST_LEVEL1 = 3, /* level k is list LIST_LEVEL1 + k - 1 */
};

struct src {
	struct abuse_source key; /* bytes past len are zero, so they never sway the hash */
	unsigned pending;
	unsigned fails;
	uint64_t fail_start_ms;	  /* when the current failure window opened */
	uint64_t banned_until_ms; /* ban in force while now < this */
	uint32_t hnext;
	uint32_t prev, next;
	uint32_t list; /* NIL while on none */
};

struct list {
	uint32_t head, tail;
};

struct abuse {
	struct abuse_config cfg;
	uint64_t window_ms;
	uint64_t ban_ms;
	uint64_t now_ms; /* time of the latest timed call, for abuse_release() */
	/* No ban lasts beyond this: until then abuse_is_banned() must look, after
	 * it every source is free, and checking costs no hash (each knock asks). */
	uint64_t bans_until_ms;
	unsigned pending;
	unsigned top;	    /* highest level */
	unsigned max_level; /* highest non-empty level, 0 if none */
	uint32_t bucket_mask;
	uint32_t *buckets;
	struct src *srcs;
	struct list *lists; /* LIST_LEVEL1 + top of them */
	uint64_t key[2];
};

/*
 * Anyone can pick source addresses (a /48 holds 65536 /64s) before
 * authenticating, so buckets must not be predictable: SipHash under a secret
 * per-process key keeps them from crowding one chain.
 */
static uint32_t bucket_of(const struct abuse *a, const struct abuse_source *k)
{
	uint8_t buf[9];
	memcpy(buf, k->bytes, 8);
	buf[8] = k->len;
	return (uint32_t)crypto_siphash((const uint8_t *)a->key, buf, sizeof(buf)) & a->bucket_mask;
}

static int normalize(const struct abuse_source *in, struct abuse_source *out)
{
	if (in == NULL || (in->len != 4 && in->len != 8))
		return -1;
	memset(out, 0, sizeof(*out));
	memcpy(out->bytes, in->bytes, in->len);
	out->len = in->len;
	return 0;
}

static int same_source(const struct abuse_source *x, const struct abuse_source *y)
{
	return x->len == y->len && memcmp(x->bytes, y->bytes, x->len) == 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Lists */

static void list_push(struct abuse *a, uint32_t l, uint32_t i)
{
	struct list *L = &a->lists[l];
	struct src *s = &a->srcs[i];
	s->list = l;
	s->next = NIL;
	s->prev = L->tail;
	if (L->tail != NIL)
		a->srcs[L->tail].next = i;
	else
		L->head = i;
	L->tail = i;
}

static void list_unlink(struct abuse *a, uint32_t i)
{
	struct src *s = &a->srcs[i];
	if (s->list == NIL)
		return;
	struct list *L = &a->lists[s->list];
	if (s->prev != NIL)
		a->srcs[s->prev].next = s->next;
	else
		L->head = s->next;
	if (s->next != NIL)
		a->srcs[s->next].prev = s->prev;
	else
		L->tail = s->prev;
	s->list = NIL;
}

static uint32_t level_list(const struct abuse *a, unsigned pending)
{
	unsigned k = pending < a->top ? pending : a->top;
	return LIST_LEVEL1 + k - 1;
}

static uint32_t list_for(const struct abuse *a, const struct src *s)
{
	if (s->pending > 0)
		return level_list(a, s->pending);
	if (s->banned_until_ms > a->now_ms)
		return LIST_BANNED;
	return LIST_IDLE;
}

/* Levels only move by one, so this loop runs at most once per decrement. */
static void fix_max_level(struct abuse *a)
{
	while (a->max_level > 0 && a->lists[LIST_LEVEL1 + a->max_level - 1].head == NIL)
		a->max_level--;
}

/* place(a, i): move source i to the list its state calls for. */
static void place(struct abuse *a, uint32_t i)
{
	struct src *s = &a->srcs[i];
	uint32_t want = list_for(a, s);
	/* Idle sources move to the tail on every touch; others keep their turn. */
	if (want == s->list && want != LIST_IDLE)
		return;
	list_unlink(a, i);
	list_push(a, want, i);
	if (want >= LIST_LEVEL1 && want - LIST_LEVEL1 + 1 > a->max_level)
		a->max_level = want - LIST_LEVEL1 + 1;
	fix_max_level(a);
}

/* Hash table */

static uint32_t find(const struct abuse *a, const struct abuse_source *k)
{
	uint32_t i = a->buckets[bucket_of(a, k)];
	while (i != NIL && !same_source(&a->srcs[i].key, k))
		i = a->srcs[i].hnext;
	return i;
}

static void unhash(struct abuse *a, uint32_t i)
{
	uint32_t *link = &a->buckets[bucket_of(a, &a->srcs[i].key)];
	while (*link != NIL && *link != i)
		link = &a->srcs[*link].hnext;
	if (*link == i)
		*link = a->srcs[i].hnext;
}

/* A slot for a new source: a free one, an ended ban, or the least recently seen. */
static uint32_t reclaim(struct abuse *a)
{
	uint32_t i = a->lists[LIST_FREE].head;
	if (i != NIL) {
		list_unlink(a, i);
		return i;
	}
	i = a->lists[LIST_BANNED].head;
	if (i == NIL || a->srcs[i].banned_until_ms > a->now_ms)
		i = a->lists[LIST_IDLE].head;
	if (i == NIL)
		return NIL;
	list_unlink(a, i);
	unhash(a, i);
	return i;
}

static uint32_t add(struct abuse *a, const struct abuse_source *k)
{
	uint32_t i = reclaim(a);
	if (i == NIL)
		return NIL;
	struct src *s = &a->srcs[i];
	memset(s, 0, sizeof(*s));
	s->key = *k;
	s->list = NIL;
	uint32_t *head = &a->buckets[bucket_of(a, k)];
	s->hnext = *head;
	*head = i;
	place(a, i);
	return i;
}

static uint32_t find_or_add(struct abuse *a, const struct abuse_source *k)
{
	uint32_t i = find(a, k);
	return i != NIL ? i : add(a, k);
}

/* Setup */

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

/*
 * Levels are only needed to find the busiest source under a global cap; a
 * source holds at most the per-source cap, or without one the global cap
 * plus evictions the caller has not yet released.
 */
static unsigned level_count(const struct abuse_config *cfg)
{
	if (cfg->max_unauth == 0)
		return 1;
	unsigned top = cfg->max_unauth_per_source;
	if (top == 0)
		top = cfg->max_unauth < UINT_MAX ? cfg->max_unauth + 1 : UINT_MAX;
	return top < ABUSE_MAX_LEVELS ? top : ABUSE_MAX_LEVELS;
}

static int alloc_tables(struct abuse *a, size_t n)
{
	size_t nbuckets = pow2_at_least(2 * n);
	size_t nlists = LIST_LEVEL1 + a->top;
	a->bucket_mask = (uint32_t)(nbuckets - 1);
	a->srcs = calloc(n, sizeof(*a->srcs));
	a->buckets = malloc(nbuckets * sizeof(*a->buckets));
	a->lists = malloc(nlists * sizeof(*a->lists));
	if (a->srcs == NULL || a->buckets == NULL || a->lists == NULL)
		return -1;
	/* All-ones bytes make every uint32 NIL. */
	memset(a->buckets, 0xff, nbuckets * sizeof(*a->buckets));
	memset(a->lists, 0xff, nlists * sizeof(*a->lists));
	for (size_t i = 0; i < n; i++)
		list_push(a, LIST_FREE, (uint32_t)i);
	return 0;
}

struct abuse *abuse_new(const struct abuse_config *cfg)
{
	if (cfg == NULL)
		return NULL;
	size_t n = cfg->table_size ? cfg->table_size : ABUSE_DEFAULT_TABLE;
	if (n > ABUSE_MAX_TABLE)
		return NULL;
	struct abuse *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->cfg = *cfg;
	a->window_ms = (uint64_t)cfg->ban_window_s * 1000;
	a->ban_ms = (uint64_t)cfg->ban_time_s * 1000;
	a->top = level_count(cfg);
	if (alloc_tables(a, n) != 0 || crypto_random(a->key, sizeof(a->key)) != 0) {
		abuse_free(a);
		return NULL;
	}
	return a;
}

void abuse_free(struct abuse *a)
{
	if (a == NULL)
		return;
	free(a->srcs);
	free(a->buckets);
	free(a->lists);
	crypto_wipe(a->key, sizeof(a->key));
	free(a);
}

/* Addresses */

int abuse_source_from(const struct sockaddr *sa, struct abuse_source *out)
{
	if (sa == NULL || out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		memcpy(out->bytes, &in->sin_addr, 4);
		out->len = 4;
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	const struct sockaddr_in6 *in6 = (const void *)sa;
	/* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d. */
	if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		memcpy(out->bytes, &in6->sin6_addr.s6_addr[12], 4);
		out->len = 4;
		return 0;
	}
	memcpy(out->bytes, in6->sin6_addr.s6_addr, 8);
	out->len = 8;
	return 0;
}

char *abuse_format_source(const struct abuse_source *src, char *buf, size_t len)
{
	if (buf == NULL || len == 0)
		return buf;
	buf[0] = '\0';
	if (src == NULL || (src->len != 4 && src->len != 8))
		return buf;
	char tmp[INET6_ADDRSTRLEN];
	uint8_t addr[16] = {0};
	memcpy(addr, src->bytes, src->len);
	int af = src->len == 4 ? AF_INET : AF_INET6;
	if (inet_ntop(af, addr, tmp, sizeof(tmp)) == NULL)
		return buf;
	int n = snprintf(buf, len, "%s%s", tmp, af == AF_INET6 ? "/64" : "");
	/* Half an address in a log line would name someone else. */
	if (n < 0 || (size_t)n >= len)
		buf[0] = '\0';
	return buf;
}

/* Admission */

static uint32_t busiest(const struct abuse *a)
{
	if (a->max_level == 0)
		return NIL;
	return a->lists[LIST_LEVEL1 + a->max_level - 1].head;
}

/*
 * Under the global cap a newcomer may displace the busiest source's oldest
 * attempt, but only if it has fewer pending itself; so one flooding place
 * cannot starve others, and the flood ends up competing only with itself.
 */
static enum abuse_admit at_global_cap(const struct abuse *a, unsigned mine, uint32_t *victim)
{
	*victim = busiest(a);
	if (*victim == NIL || mine >= a->srcs[*victim].pending)
		return ABUSE_FULL;
	return ABUSE_EVICT_OLDEST;
}

enum abuse_admit abuse_admit(struct abuse *a, const struct abuse_source *src, uint64_t now_ms,
			     struct abuse_source *evict)
{
	struct abuse_source k;
	if (a == NULL || normalize(src, &k) != 0)
		return ABUSE_FULL;
	a->now_ms = now_ms;
	uint32_t i = find(a, &k);
	if (i != NIL && a->srcs[i].banned_until_ms > now_ms)
		return ABUSE_BANNED;
	unsigned mine = i != NIL ? a->srcs[i].pending : 0;
	unsigned per = a->cfg.max_unauth_per_source;
	if (per != 0 && mine >= per)
		return ABUSE_SOURCE_FULL;
	if (mine == UINT_MAX || a->pending == UINT_MAX)
		return ABUSE_FULL;
	enum abuse_admit verdict = ABUSE_ADMIT;
	uint32_t victim = NIL;
	if (a->cfg.max_unauth != 0 && a->pending >= a->cfg.max_unauth) {
		verdict = at_global_cap(a, mine, &victim);
		if (verdict == ABUSE_FULL || evict == NULL)
			return ABUSE_FULL;
	}
	/* add() never reclaims a source with pending connections, so victim stays valid. */
	if (i == NIL && (i = add(a, &k)) == NIL)
		return ABUSE_FULL;
	if (victim != NIL)
		*evict = a->srcs[victim].key;
	a->srcs[i].pending++;
	a->pending++;
	place(a, i);
	return verdict;
}

void abuse_release(struct abuse *a, const struct abuse_source *src)
{
	struct abuse_source k;
	if (a == NULL || normalize(src, &k) != 0)
		return;
	uint32_t i = find(a, &k);
	if (i == NIL || a->srcs[i].pending == 0)
		return;
	a->srcs[i].pending--;
	if (a->pending > 0)
		a->pending--;
	place(a, i);
}

/*
 * A fixed window opened by the first failure approximates "failures in the
 * last ban_window_s" with two numbers per source; a burst straddling two
 * windows can reach up to 2 * threshold - 2 failures unbanned.
 */
int abuse_cidr_parse(const char *spec, struct abuse_cidr *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = spec != NULL ? strchr(spec, '/') : NULL;
	size_t alen = spec == NULL ? 0 : slash != NULL ? (size_t)(slash - spec) : strlen(spec);
	if (out == NULL || alen == 0 || alen >= sizeof(addr))
		return -1;
	memset(out, 0, sizeof(*out));
	memcpy(addr, spec, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, out->bytes) == 1)
		out->len = 4;
	else if (inet_pton(AF_INET6, addr, out->bytes) == 1)
		out->len = 16;
	else
		return -1;
	unsigned max = out->len * 8u, bits = max;
	if (slash != NULL) {
		const char *p = slash + 1;
		bits = 0;
		if (*p == '\0' || strlen(p) > 3)
			return -1;
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			bits = bits * 10 + (unsigned)(*p - '0');
		}
		if (bits > max)
			return -1;
	}
	out->bits = (uint8_t)bits;
	return 0;
}

/* Do the first ${bits} bits of ${x} and ${y} agree? */
static int prefix_equal(const uint8_t *x, const uint8_t *y, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	if (memcmp(x, y, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (x[whole] & mask) == (y[whole] & mask);
}

int abuse_exempt(const struct abuse *a, const struct abuse_source *src)
{
	if (a == NULL || src == NULL)
		return 0;
	for (size_t i = 0; i < a->cfg.nexempt && i < ABUSE_EXEMPT_MAX; i++) {
		const struct abuse_cidr *c = &a->cfg.exempt[i];
		if (c->len == 4 && src->len == 4 && prefix_equal(c->bytes, src->bytes, c->bits))
			return 1;
		/* An IPv6 source is only its /64: it is covered when the two
		 * prefixes overlap, i.e. agree on the shorter of the two. */
		if (c->len == 16 && src->len == 8 &&
		    prefix_equal(c->bytes, src->bytes, c->bits < 64 ? c->bits : 64))
			return 1;
	}
	return 0;
}

size_t abuse_each_ban(const struct abuse *a, uint64_t now_ms,
		      void (*fn)(void *arg, const struct abuse_source *src, uint64_t left_s),
		      void *arg)
{
	size_t n = 0;
	if (a == NULL || fn == NULL)
		return 0;
	for (uint32_t i = a->lists[LIST_BANNED].head; i != NIL; i = a->srcs[i].next) {
		const struct src *s = &a->srcs[i];
		if (s->banned_until_ms <= now_ms)
			continue;
		fn(arg, &s->key, (s->banned_until_ms - now_ms + 999) / 1000);
		n++;
	}
	return n;
}

int abuse_unban(struct abuse *a, const struct abuse_source *src, uint64_t now_ms)
{
	struct abuse_source k;
	if (a == NULL || normalize(src, &k) != 0)
		return 0;
	a->now_ms = now_ms;
	uint32_t i = find(a, &k);
	if (i == NIL || a->srcs[i].banned_until_ms <= now_ms)
		return 0;
	/* The failures that led to the ban go with it: a fresh start. */
	a->srcs[i].banned_until_ms = 0;
	a->srcs[i].fails = 0;
	place(a, i);
	return 1;
}

int abuse_fail(struct abuse *a, const struct abuse_source *src, uint64_t now_ms)
{
	struct abuse_source k;
	if (a == NULL || normalize(src, &k) != 0 || abuse_exempt(a, &k))
		return 0;
	a->now_ms = now_ms;
	uint32_t i = find_or_add(a, &k);
	if (i == NIL)
		return 0;
	struct src *s = &a->srcs[i];
	if (s->banned_until_ms > now_ms)
		return 0;
	if (s->fails == 0 || now_ms < s->fail_start_ms ||
	    now_ms - s->fail_start_ms >= a->window_ms) {
		s->fails = 0;
		s->fail_start_ms = now_ms;
	}
	if (s->fails < UINT_MAX)
		s->fails++;
	int ban = a->cfg.ban_threshold != 0 && a->ban_ms != 0 && s->fails >= a->cfg.ban_threshold;
	if (ban) {
		s->banned_until_ms = add_sat(now_ms, a->ban_ms);
		if (s->banned_until_ms > a->bans_until_ms)
			a->bans_until_ms = s->banned_until_ms;
		/* Once the ban ends the source starts over with a clean count. */
		s->fails = 0;
	}
	place(a, i);
	return ban;
}

int abuse_ban(struct abuse *a, const struct abuse_source *src, uint64_t now_ms, uint64_t until_ms)
{
	struct abuse_source k;
	if (a == NULL || normalize(src, &k) != 0 || abuse_exempt(a, &k) || until_ms <= now_ms)
		return 0;
	a->now_ms = now_ms;
	uint32_t i = find_or_add(a, &k);
	if (i == NIL)
		return 0;
	struct src *s = &a->srcs[i];
	/* A longer local ban stands: the fleet only ever adds protection. */
	if (s->banned_until_ms >= until_ms)
		return 0;
	int fresh = s->banned_until_ms <= now_ms;
	s->banned_until_ms = until_ms;
	if (until_ms > a->bans_until_ms)
		a->bans_until_ms = until_ms;
	s->fails = 0;
	place(a, i);
	return fresh;
}

int abuse_is_banned(struct abuse *a, const struct abuse_source *src, uint64_t now_ms)
{
	struct abuse_source k;
	if (a == NULL || now_ms >= a->bans_until_ms || normalize(src, &k) != 0)
		return 0;
	uint32_t i = find(a, &k);
	return i != NIL && a->srcs[i].banned_until_ms > now_ms;
}

unsigned abuse_pending(const struct abuse *a)
{
	return a == NULL ? 0 : a->pending;
}
