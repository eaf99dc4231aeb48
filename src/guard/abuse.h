/* SPDX-License-Identifier: MIT */
/*
 * abuse: who may still try to authenticate. Counts handshake failures per
 * source (an IPv4 address, or the /64 of an IPv6 address, since one host
 * usually owns a whole /64), bans a source that fails too often, and caps
 * how many unauthenticated connections are open at once, globally and per
 * source, so a flood from one place cannot lock out a real client from
 * another. Pure: time is passed in; the server does the I/O.
 */
#ifndef POSTERN_ABUSE_H
#define POSTERN_ABUSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ADDR[/BITS]: an address and the leading bits of it that count. */
struct abuse_cidr {
	uint8_t bytes[16];
	uint8_t len;  /* 4 (IPv4) or 16 (IPv6) */
	uint8_t bits; /* 0..32 or 0..128 */
};

enum { ABUSE_EXEMPT_MAX = 64 };

struct abuse_config {
	unsigned ban_threshold; /* failures within ban_window_s that trigger a ban */
	unsigned ban_window_s;
	unsigned ban_time_s;
	unsigned max_unauth; /* concurrent unauthenticated connections, all sources */
	unsigned max_unauth_per_source;
	size_t table_size; /* sources tracked; the least recently seen is forgotten */
	/* Sources never banned (failures are not even counted). An IPv6 source
	 * is its /64, so an IPv6 entry exempts the /64s it overlaps. */
	struct abuse_cidr exempt[ABUSE_EXEMPT_MAX];
	size_t nexempt;
};

/* A source key: the address family and the significant bytes. */
struct abuse_source {
	uint8_t bytes[16]; /* IPv4: 4 bytes (v4-mapped IPv6 counts as IPv4); IPv6: first 8 */
	uint8_t len;	   /* 4 or 8 */
};

enum abuse_admit {
	ABUSE_ADMIT = 0,	/* go ahead */
	ABUSE_BANNED = 1,	/* source is banned */
	ABUSE_SOURCE_FULL = 2,	/* this source already has max_unauth_per_source pending */
	ABUSE_EVICT_OLDEST = 3, /* global cap reached: admit, but caller must drop the
				   oldest pending connection of abuse_evict_source() */
	ABUSE_FULL = 4,		/* global cap reached and this source is the busiest */
};

struct abuse;

/*
 * abuse_cidr_parse(spec, out): "192.0.2.1", "10.0.0.0/8", "2001:db8::/32"
 * (no brackets). Returns 0, or -1 if ${spec} is not ADDR[/BITS]. Pure.
 */
int abuse_cidr_parse(const char *spec, struct abuse_cidr *out);

struct abuse *abuse_new(const struct abuse_config *cfg);
void abuse_free(struct abuse *a);

/* abuse_source_from(sa, out): the source key of a peer address. Returns 0 or -1. */
int abuse_source_from(const struct sockaddr *sa, struct abuse_source *out);

/* abuse_format_source(src, buf, len): "192.0.2.1" or "2001:db8:1:2::/64". Returns buf. */
char *abuse_format_source(const struct abuse_source *src, char *buf, size_t len);

/*
 * abuse_admit(a, src, now_ms, evict): may a new connection from ${src} start
 * a handshake? On ABUSE_ADMIT and ABUSE_EVICT_OLDEST the connection is counted
 * as pending (release it with abuse_release()). On ABUSE_EVICT_OLDEST,
 * *${evict} is set to the source whose oldest pending connection the caller
 * must close (and then abuse_release() for it).
 */
enum abuse_admit abuse_admit(struct abuse *a, const struct abuse_source *src, uint64_t now_ms,
			     struct abuse_source *evict);

/* abuse_release(a, src): a pending connection of ${src} finished its handshake or closed. */
void abuse_release(struct abuse *a, const struct abuse_source *src);

/*
 * abuse_fail(a, src, now_ms): record a failed handshake. Returns 1 if this
 * failure banned the source (so the caller logs it once), else 0.
 */
int abuse_fail(struct abuse *a, const struct abuse_source *src, uint64_t now_ms);

/* abuse_is_banned(a, src, now_ms): 1 while a ban is in force. */
/*
 * abuse_ban(a, src, now_ms, until_ms): ban ${src} until ${until_ms} (a ban
 * another gateway of the fleet reached); an exempt source is not banned and
 * a ban already lasting longer is kept. Returns 1 if ${src} was not banned
 * before.
 */
int abuse_ban(struct abuse *a, const struct abuse_source *src, uint64_t now_ms, uint64_t until_ms);

int abuse_is_banned(struct abuse *a, const struct abuse_source *src, uint64_t now_ms);

/* abuse_exempt(a, src): 1 if ${src} is covered by a ban_exempt entry. */
int abuse_exempt(const struct abuse *a, const struct abuse_source *src);

/*
 * abuse_each_ban(a, now_ms, fn, arg): call fn(arg, src, seconds_left) for
 * every ban in force, up to the table size. Returns how many it reported.
 */
size_t abuse_each_ban(const struct abuse *a, uint64_t now_ms,
		      void (*fn)(void *arg, const struct abuse_source *src, uint64_t left_s),
		      void *arg);

/*
 * abuse_unban(a, src, now_ms): lift the ban on ${src} (an operator's `postern
 * ctl unban`) and forget its failures. Returns 1 if a ban was in force, else 0.
 */
int abuse_unban(struct abuse *a, const struct abuse_source *src, uint64_t now_ms);

/* abuse_pending(a): unauthenticated connections now counted (for status and tests). */
unsigned abuse_pending(const struct abuse *a);

#endif
