/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cmocka.h>

#include "guard/abuse.h"

#define SKIP (-1)

enum kind { ADMIT, RELEASE, FAIL, BANNED };

struct op {
	enum kind kind;
	const char *src;
	uint64_t t_ms;
	int want;	   /* enum abuse_admit for ADMIT, 0/1 for FAIL and BANNED */
	const char *evict; /* for ABUSE_EVICT_OLDEST: the source to evict */
	int pending;	   /* abuse_pending() afterwards, or SKIP */
};

struct scenario {
	const char *name;
	struct abuse_config cfg;
	const struct op *ops;
	size_t nops;
};

#define SCENARIO(n, c, o)                                                                          \
	{                                                                                          \
		n, c, o, sizeof(o) / sizeof(o[0])                                                  \
	}

/* threshold, window_s, ban_s, max_unauth, per_source, table */
#define CFG(th, win, ban, max, per, tab)                                                           \
	{                                                                                          \
		.ban_threshold = th, .ban_window_s = win, .ban_time_s = ban, .max_unauth = max,    \
		.max_unauth_per_source = per, .table_size = tab                                    \
	}

static const struct op threshold_bans[] = {
    {FAIL, "192.0.2.1", 0, 0, NULL, SKIP},
    {FAIL, "192.0.2.1", 1000, 0, NULL, SKIP},
    {BANNED, "192.0.2.1", 1500, 0, NULL, SKIP},
    {FAIL, "192.0.2.1", 2000, 1, NULL, SKIP},
    {BANNED, "192.0.2.1", 2000, 1, NULL, SKIP},
    {ADMIT, "192.0.2.1", 3000, ABUSE_BANNED, NULL, 0},
    {FAIL, "192.0.2.1", 4000, 0, NULL, SKIP},
    {BANNED, "192.0.2.2", 4000, 0, NULL, SKIP},
    {ADMIT, "192.0.2.2", 4000, ABUSE_ADMIT, NULL, 1},
};

static const struct op ban_expires[] = {
    {FAIL, "192.0.2.1", 0, 0, NULL, SKIP},
    {FAIL, "192.0.2.1", 0, 0, NULL, SKIP},
    {FAIL, "192.0.2.1", 0, 1, NULL, SKIP},
    {BANNED, "192.0.2.1", 599999, 1, NULL, SKIP},
    {ADMIT, "192.0.2.1", 599999, ABUSE_BANNED, NULL, 0},
    {BANNED, "192.0.2.1", 600000, 0, NULL, SKIP},
    {ADMIT, "192.0.2.1", 600000, ABUSE_ADMIT, NULL, 1},
    /* The count starts over after a ban. */
    {FAIL, "192.0.2.1", 600001, 0, NULL, SKIP},
    {FAIL, "192.0.2.1", 600002, 0, NULL, SKIP},
    {FAIL, "192.0.2.1", 600003, 1, NULL, SKIP},
};

static const struct op window_resets[] = {
    {FAIL, "198.51.100.7", 0, 0, NULL, SKIP},	    {FAIL, "198.51.100.7", 59999, 0, NULL, SKIP},
    {FAIL, "198.51.100.7", 60000, 0, NULL, SKIP},   {FAIL, "198.51.100.7", 61000, 0, NULL, SKIP},
    {BANNED, "198.51.100.7", 61000, 0, NULL, SKIP}, {FAIL, "198.51.100.7", 62000, 1, NULL, SKIP},
};

static const struct op per_source_cap[] = {
    {ADMIT, "192.0.2.1", 0, ABUSE_ADMIT, NULL, 1},
    {ADMIT, "192.0.2.1", 0, ABUSE_ADMIT, NULL, 2},
    {ADMIT, "192.0.2.1", 0, ABUSE_SOURCE_FULL, NULL, 2},
    {ADMIT, "192.0.2.2", 0, ABUSE_ADMIT, NULL, 3},
    {RELEASE, "192.0.2.1", 0, 0, NULL, 2},
    {ADMIT, "192.0.2.1", 0, ABUSE_ADMIT, NULL, 3},
    {RELEASE, "192.0.2.9", 0, 0, NULL, 3},
    {RELEASE, "192.0.2.2", 0, 0, NULL, 2},
    {RELEASE, "192.0.2.2", 0, 0, NULL, 2},
};

static const struct op global_cap[] = {
    {ADMIT, "10.0.0.1", 0, ABUSE_ADMIT, NULL, 1},
    {ADMIT, "10.0.0.1", 0, ABUSE_ADMIT, NULL, 2},
    {ADMIT, "10.0.0.1", 0, ABUSE_ADMIT, NULL, 3},
    {ADMIT, "10.0.0.2", 0, ABUSE_ADMIT, NULL, 4},
    {ADMIT, "10.0.0.3", 0, ABUSE_EVICT_OLDEST, "10.0.0.1", 5},
    {RELEASE, "10.0.0.1", 0, 0, NULL, 4},
    /* 10.0.0.1 (2) is still the busiest, so it may not displace anyone. */
    {ADMIT, "10.0.0.1", 0, ABUSE_FULL, NULL, 4},
    {ADMIT, "10.0.0.2", 0, ABUSE_EVICT_OLDEST, "10.0.0.1", 5},
    {RELEASE, "10.0.0.1", 0, 0, NULL, 4},
    {ADMIT, "10.0.0.2", 0, ABUSE_FULL, NULL, 4},
    {ADMIT, "10.0.0.4", 0, ABUSE_EVICT_OLDEST, "10.0.0.2", 5},
};

static const struct op ipv6_slash64[] = {
    {FAIL, "2001:db8:1:2::1", 0, 0, NULL, SKIP},
    {FAIL, "2001:db8:1:2:ffff:ffff:ffff:ffff", 0, 1, NULL, SKIP},
    {BANNED, "2001:db8:1:2::99", 0, 1, NULL, SKIP},
    {BANNED, "2001:db8:1:3::1", 0, 0, NULL, SKIP},
    {FAIL, "2001:db8:1:3::1", 0, 0, NULL, SKIP},
    {BANNED, "2001:db8:1:3::1", 0, 0, NULL, SKIP},
    {ADMIT, "2001:db8:1:4::1", 0, ABUSE_ADMIT, NULL, 1},
    {ADMIT, "2001:db8:1:4::2", 0, ABUSE_SOURCE_FULL, NULL, 1},
    {ADMIT, "2001:db8:1:5::2", 0, ABUSE_ADMIT, NULL, 2},
};

static const struct op v4_mapped[] = {
    {FAIL, "::ffff:192.0.2.1", 0, 0, NULL, SKIP},
    {FAIL, "192.0.2.1", 0, 1, NULL, SKIP},
    {BANNED, "::ffff:192.0.2.1", 0, 1, NULL, SKIP},
    {BANNED, "192.0.2.2", 0, 0, NULL, SKIP},
    /* An IPv6 /64 starting with the same bytes is someone else. */
    {BANNED, "c000:201::1", 0, 0, NULL, SKIP},
};

/* Table of two: a pending and a banned source are never forgotten. */
static const struct op full_table[] = {
    {ADMIT, "10.0.0.1", 0, ABUSE_ADMIT, NULL, 1},
    {FAIL, "10.0.0.2", 0, 1, NULL, SKIP},
    {FAIL, "10.0.0.3", 0, 0, NULL, SKIP},
    {ADMIT, "10.0.0.3", 0, ABUSE_FULL, NULL, 1},
    {BANNED, "10.0.0.2", 0, 1, NULL, SKIP},
    {RELEASE, "10.0.0.1", 0, 0, NULL, 0},
    {ADMIT, "10.0.0.3", 0, ABUSE_ADMIT, NULL, 1},
    {ADMIT, "10.0.0.1", 0, ABUSE_FULL, NULL, 1},
    {BANNED, "10.0.0.2", 0, 1, NULL, SKIP},
    /* Once the ban is over its slot can go. */
    {ADMIT, "10.0.0.1", 600000, ABUSE_ADMIT, NULL, 2},
    {BANNED, "10.0.0.2", 600000, 0, NULL, SKIP},
    {FAIL, "10.0.0.2", 600000, 0, NULL, SKIP},
};

/* Table of two: the least recently seen idle source is the one forgotten. */
static const struct op least_recent[] = {
    {FAIL, "10.0.0.1", 0, 0, NULL, SKIP},
    {FAIL, "10.0.0.2", 1, 0, NULL, SKIP},
    {FAIL, "10.0.0.1", 2, 0, NULL, SKIP},
    {FAIL, "10.0.0.3", 3, 0, NULL, SKIP},
    /* 10.0.0.1 kept its two failures; 10.0.0.2 went. */
    {FAIL, "10.0.0.1", 4, 1, NULL, SKIP},
    {FAIL, "10.0.0.2", 5, 0, NULL, SKIP},
    {FAIL, "10.0.0.2", 6, 0, NULL, SKIP},
    {FAIL, "10.0.0.2", 7, 1, NULL, SKIP},
};

static const struct op no_limits[] = {
    {FAIL, "10.0.0.1", 0, 0, NULL, SKIP},	  {FAIL, "10.0.0.1", 0, 0, NULL, SKIP},
    {FAIL, "10.0.0.1", 0, 0, NULL, SKIP},	  {FAIL, "10.0.0.1", 0, 0, NULL, SKIP},
    {ADMIT, "10.0.0.1", 0, ABUSE_ADMIT, NULL, 1}, {ADMIT, "10.0.0.1", 0, ABUSE_ADMIT, NULL, 2},
    {ADMIT, "10.0.0.1", 0, ABUSE_ADMIT, NULL, 3}, {ADMIT, "10.0.0.1", 0, ABUSE_ADMIT, NULL, 4},
};

static const struct scenario scenarios[] = {
    SCENARIO("threshold bans", CFG(3, 60, 600, 64, 8, 0), threshold_bans),
    SCENARIO("ban expires", CFG(3, 60, 600, 64, 8, 0), ban_expires),
    SCENARIO("window resets counts", CFG(3, 60, 600, 64, 8, 0), window_resets),
    SCENARIO("per-source cap", CFG(3, 60, 600, 64, 2, 0), per_source_cap),
    SCENARIO("global cap evicts the busiest", CFG(3, 60, 600, 4, 8, 0), global_cap),
    SCENARIO("IPv6 sources are their /64", CFG(2, 60, 600, 64, 1, 0), ipv6_slash64),
    SCENARIO("v4-mapped counts as IPv4", CFG(2, 60, 600, 64, 8, 0), v4_mapped),
    SCENARIO("full table keeps pinned sources", CFG(1, 60, 600, 64, 8, 2), full_table),
    SCENARIO("least recently seen is forgotten", CFG(3, 60, 600, 64, 8, 2), least_recent),
    SCENARIO("zero means no limit", CFG(0, 60, 600, 0, 0, 0), no_limits),
};

static void parse_source(const char *text, struct abuse_source *out)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1)
		in->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1)
		in6->sin6_family = AF_INET6;
	else
		fail_msg("bad address in test: %s", text);
	assert_int_equal(abuse_source_from((struct sockaddr *)&ss, out), 0);
}

static int run_op(struct abuse *a, const struct op *op, struct abuse_source *evict)
{
	struct abuse_source src;
	parse_source(op->src, &src);
	switch (op->kind) {
	case ADMIT:
		return (int)abuse_admit(a, &src, op->t_ms, evict);
	case RELEASE:
		abuse_release(a, &src);
		return 0;
	case FAIL:
		return abuse_fail(a, &src, op->t_ms);
	case BANNED:
		return abuse_is_banned(a, &src, op->t_ms);
	}
	return -1;
}

static void check_evict(const struct scenario *sc, size_t i, const struct abuse_source *evict)
{
	struct abuse_source want;
	parse_source(sc->ops[i].evict, &want);
	if (evict->len != want.len || memcmp(evict->bytes, want.bytes, want.len) != 0) {
		char buf[64];
		fail_msg("%s, op %zu: evict %s, want %s", sc->name, i,
			 abuse_format_source(evict, buf, sizeof(buf)), sc->ops[i].evict);
	}
}

static void run_scenario(const struct scenario *sc)
{
	struct abuse *a = abuse_new(&sc->cfg);
	assert_non_null(a);
	for (size_t i = 0; i < sc->nops; i++) {
		const struct op *op = &sc->ops[i];
		struct abuse_source evict = {{0}, 0};
		int got = run_op(a, op, &evict);
		if (got != op->want)
			fail_msg("%s, op %zu (%s): got %d, want %d", sc->name, i, op->src, got,
				 op->want);
		if (op->evict != NULL)
			check_evict(sc, i, &evict);
		if (op->pending != SKIP && abuse_pending(a) != (unsigned)op->pending)
			fail_msg("%s, op %zu: pending %u, want %d", sc->name, i, abuse_pending(a),
				 op->pending);
	}
	abuse_free(a);
}

static void test_scenarios(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);
}

static const struct {
	const char *addr;
	const char *text;
} formats[] = {
    {"192.0.2.1", "192.0.2.1"},
    {"::ffff:198.51.100.7", "198.51.100.7"},
    {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
    {"2001:db8::1", "2001:db8::/64"},
    {"::1", "::/64"},
    {"fe80::1:2:3:4", "fe80::/64"},
    {"2001:db8:0:1::", "2001:db8:0:1::/64"},
};

static void test_format(void **state)
{
	(void)state;
	char buf[64];
	struct abuse_source src;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		parse_source(formats[i].addr, &src);
		assert_string_equal(abuse_format_source(&src, buf, sizeof(buf)), formats[i].text);
	}
	/* Too small a buffer gives an empty string, never half an address. */
	parse_source("192.0.2.1", &src);
	assert_string_equal(abuse_format_source(&src, buf, 9), "");
	assert_string_equal(abuse_format_source(&src, buf, 10), "192.0.2.1");
	parse_source("2001:db8::1", &src);
	assert_string_equal(abuse_format_source(&src, buf, 13), "");
	assert_string_equal(abuse_format_source(&src, buf, 14), "2001:db8::/64");
	assert_string_equal(abuse_format_source(NULL, buf, sizeof(buf)), "");
	src.len = 5;
	assert_string_equal(abuse_format_source(&src, buf, sizeof(buf)), "");
	assert_null(abuse_format_source(&src, NULL, 10));
	buf[0] = 'x';
	assert_ptr_equal(abuse_format_source(&src, buf, 0), buf);
	assert_int_equal(buf[0], 'x');
}

static void test_source_from(void **state)
{
	(void)state;
	struct abuse_source src;
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	assert_int_equal(abuse_source_from((struct sockaddr *)&un, &src), -1);
	assert_int_equal(abuse_source_from(NULL, &src), -1);
	assert_int_equal(abuse_source_from((struct sockaddr *)&un, NULL), -1);
	parse_source("2001:db8:1:2:3:4:5:6", &src);
	assert_int_equal(src.len, 8);
	static const uint8_t prefix[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2};
	assert_memory_equal(src.bytes, prefix, 16);
	parse_source("::ffff:10.1.2.3", &src);
	assert_int_equal(src.len, 4);
	static const uint8_t v4[16] = {10, 1, 2, 3};
	assert_memory_equal(src.bytes, v4, 16);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct abuse_config cfg = CFG(3, 60, 600, 64, 8, 0);
	assert_null(abuse_new(NULL));
	abuse_free(NULL);
	struct abuse_source src = {{1, 2, 3, 4}, 4}, evict;
	assert_int_equal(abuse_admit(NULL, &src, 0, &evict), ABUSE_FULL);
	assert_int_equal(abuse_fail(NULL, &src, 0), 0);
	assert_int_equal(abuse_is_banned(NULL, &src, 0), 0);
	abuse_release(NULL, &src);
	assert_int_equal(abuse_pending(NULL), 0);
	cfg.table_size = (size_t)1 << 40;
	assert_null(abuse_new(&cfg));
	cfg.table_size = 0;
	struct abuse *a = abuse_new(&cfg);
	assert_non_null(a);
	/* A malformed key is refused, not trusted. */
	struct abuse_source bad = {{1, 2, 3, 4}, 5};
	assert_int_equal(abuse_admit(a, &bad, 0, &evict), ABUSE_FULL);
	assert_int_equal(abuse_admit(a, NULL, 0, &evict), ABUSE_FULL);
	assert_int_equal(abuse_fail(a, &bad, 0), 0);
	assert_int_equal(abuse_is_banned(a, &bad, 0), 0);
	abuse_release(a, &bad);
	/* Junk past len does not make a different source. */
	struct abuse_source junk = src;
	junk.bytes[9] = 0xee;
	assert_int_equal(abuse_admit(a, &src, 0, &evict), ABUSE_ADMIT);
	abuse_release(a, &junk);
	assert_int_equal(abuse_pending(a), 0);
	abuse_free(a);
}

/* At the global cap with no room to report a victim, refuse. */
static void test_evict_needs_out(void **state)
{
	(void)state;
	struct abuse_config cfg = CFG(3, 60, 600, 1, 8, 0);
	struct abuse *a = abuse_new(&cfg);
	assert_non_null(a);
	struct abuse_source x = {{10, 0, 0, 1}, 4}, y = {{10, 0, 0, 2}, 4}, ev;
	assert_int_equal(abuse_admit(a, &x, 0, NULL), ABUSE_ADMIT);
	assert_int_equal(abuse_admit(a, &y, 0, NULL), ABUSE_FULL);
	assert_int_equal(abuse_admit(a, &y, 0, &ev), ABUSE_EVICT_OLDEST);
	assert_int_equal(abuse_pending(a), 2);
	abuse_free(a);
}

static uint64_t rng_state = 0x243f6a8885a308d3u;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Random admits and releases against a model of the pending counts. */
static void test_pending_model(void **state)
{
	(void)state;
	enum { N = 12, CAP = 16, PER = 5, STEPS = 100000 };
	struct abuse_config cfg = CFG(3, 60, 600, CAP, PER, 64);
	struct abuse *a = abuse_new(&cfg);
	assert_non_null(a);
	unsigned pend[N] = {0}, total = 0;
	for (int i = 0; i < STEPS; i++) {
		unsigned s = (unsigned)(rng() % N);
		struct abuse_source src = {{10, 0, 0, (uint8_t)s}, 4}, ev;
		if (rng() % 2) {
			if (pend[s] > 0) {
				pend[s]--;
				total--;
			}
			abuse_release(a, &src);
			assert_int_equal(abuse_pending(a), total);
			continue;
		}
		unsigned maxp = 0;
		for (unsigned k = 0; k < N; k++)
			maxp = pend[k] > maxp ? pend[k] : maxp;
		int want = pend[s] >= PER   ? ABUSE_SOURCE_FULL
			   : total < CAP    ? ABUSE_ADMIT
			   : pend[s] < maxp ? ABUSE_EVICT_OLDEST
					    : ABUSE_FULL;
		int got = abuse_admit(a, &src, (uint64_t)i, &ev);
		if (got != want)
			fail_msg("step %d: got %d, want %d", i, got, want);
		if (got == ABUSE_ADMIT || got == ABUSE_EVICT_OLDEST) {
			pend[s]++;
			total++;
		}
		if (got == ABUSE_EVICT_OLDEST) {
			assert_int_equal(ev.len, 4);
			assert_int_equal(pend[ev.bytes[3]], maxp);
			pend[ev.bytes[3]]--;
			total--;
			abuse_release(a, &ev);
		}
		assert_int_equal(abuse_pending(a), total);
	}
	abuse_free(a);
}

/* A caller that never releases, a tiny table, wild clocks: only soundness counts. */
static void test_chaos(void **state)
{
	(void)state;
	struct abuse_config cfg = CFG(2, 5, 7, 3, 0, 8);
	struct abuse *a = abuse_new(&cfg);
	assert_non_null(a);
	uint64_t now = 1000000;
	for (int i = 0; i < 200000; i++) {
		now = (rng() % 8 == 0) ? now - rng() % 20000 : now + rng() % 2000;
		struct abuse_source src = {{0}, 0}, ev;
		src.len = (rng() % 2) ? 4 : 8;
		src.bytes[0] = (uint8_t)(rng() % 24);
		switch (rng() % 4) {
		case 0:
			abuse_admit(a, &src, now, &ev);
			break;
		case 1:
			abuse_release(a, &src);
			break;
		case 2:
			abuse_fail(a, &src, now);
			break;
		default:
			abuse_is_banned(a, &src, now);
		}
	}
	abuse_free(a);
}

static void test_cidr_parse(void **state)
{
	struct abuse_cidr c;
	(void)state;
	assert_int_equal(abuse_cidr_parse("192.0.2.7", &c), 0);
	assert_int_equal(c.len, 4);
	assert_int_equal(c.bits, 32);
	assert_int_equal(abuse_cidr_parse("10.0.0.0/8", &c), 0);
	assert_int_equal(c.bits, 8);
	assert_int_equal(abuse_cidr_parse("2001:db8::/32", &c), 0);
	assert_int_equal(c.len, 16);
	assert_int_equal(c.bits, 32);
	assert_int_equal(abuse_cidr_parse("::1", &c), 0);
	assert_int_equal(c.bits, 128);
	const char *bad[] = {
	    "",	     "/8",	"10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1",  "10.0.0/8",
	    "[::1]", "::1/129", "host",	     "10.0.0.0/8x", "1.2.3.4/0008", "1.2.3.4 "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (abuse_cidr_parse(bad[i], &c) == 0)
			fail_msg("accepted '%s'", bad[i]);
	assert_int_equal(abuse_cidr_parse(NULL, &c), -1);
	assert_int_equal(abuse_cidr_parse("1.2.3.4", NULL), -1);
}

static void count_ban(void *arg, const struct abuse_source *src, uint64_t left_s)
{
	char name[64];
	(void)left_s;
	assert_string_equal(abuse_format_source(src, name, sizeof(name)), "10.1.0.1");
	(*(int *)arg)++;
}

static void test_exempt_never_banned(void **state)
{
	struct abuse_config cfg = CFG(2, 60, 600, 64, 8, 0);
	struct abuse_source src;
	(void)state;
	assert_int_equal(abuse_cidr_parse("10.0.0.0/16", &cfg.exempt[0]), 0);
	assert_int_equal(abuse_cidr_parse("2001:db8:1::/48", &cfg.exempt[1]), 0);
	cfg.nexempt = 2;
	struct abuse *a = abuse_new(&cfg);
	assert_non_null(a);
	const char *exempt[] = {"10.0.0.1", "10.0.255.9", "2001:db8:1:7::1"};
	for (size_t i = 0; i < 3; i++) {
		parse_source(exempt[i], &src);
		assert_int_equal(abuse_exempt(a, &src), 1);
		for (int k = 0; k < 10; k++)
			assert_int_equal(abuse_fail(a, &src, 1000), 0);
		assert_int_equal(abuse_is_banned(a, &src, 1000), 0);
	}
	/* Outside the prefixes the threshold still bans. */
	parse_source("10.1.0.1", &src);
	assert_int_equal(abuse_exempt(a, &src), 0);
	assert_int_equal(abuse_fail(a, &src, 1000), 0);
	assert_int_equal(abuse_fail(a, &src, 1000), 1);
	int n = 0;
	assert_int_equal(abuse_each_ban(a, 2000, count_ban, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(abuse_each_ban(a, 1000 + 600 * 1000, count_ban, &n), 0);
	parse_source("2001:db8:2::1", &src);
	assert_int_equal(abuse_exempt(a, &src), 0);
	abuse_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scenarios),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_source_from),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_evict_needs_out),
	    cmocka_unit_test(test_pending_model),
	    cmocka_unit_test(test_chaos),
	    cmocka_unit_test(test_cidr_parse),
	    cmocka_unit_test(test_exempt_never_banned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
