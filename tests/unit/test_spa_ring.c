/* SPDX-License-Identifier: MIT */
/* spa/ring.c's frame parser: what the UDP layer would have delivered, nothing else. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "spa/request.h"
#include "spa/ring.h"
#include "util/wire.h"

enum { PORT = 62201 };

static size_t v4(uint8_t *p, const char *src, const char *dst, uint16_t dport, size_t plen,
		 uint16_t frag)
{
	memset(p, 0, 28 + plen);
	p[0] = 0x45;
	store16_be(p + 2, (uint16_t)(28 + plen));
	store16_be(p + 6, frag);
	p[8] = 64;
	p[9] = IPPROTO_UDP;
	inet_pton(AF_INET, src, p + 12);
	inet_pton(AF_INET, dst, p + 16);
	store16_be(p + 20, 40000);
	store16_be(p + 22, dport);
	store16_be(p + 24, (uint16_t)(8 + plen));
	memset(p + 28, 0xab, plen);
	return 28 + plen;
}

static size_t v6(uint8_t *p, const char *src, const char *dst, uint16_t dport, size_t plen)
{
	memset(p, 0, 48 + plen);
	p[0] = 0x60;
	store16_be(p + 4, (uint16_t)(8 + plen));
	p[6] = IPPROTO_UDP;
	p[7] = 64;
	inet_pton(AF_INET6, src, p + 8);
	inet_pton(AF_INET6, dst, p + 24);
	store16_be(p + 40, 40000);
	store16_be(p + 42, dport);
	store16_be(p + 44, (uint16_t)(8 + plen));
	memset(p + 48, 0xcd, plen);
	return 48 + plen;
}

static void listen4(struct sockaddr_in *l, const char *addr)
{
	memset(l, 0, sizeof(*l));
	l->sin_family = AF_INET;
	l->sin_port = htons(PORT);
	inet_pton(AF_INET, addr, &l->sin_addr);
}

static void test_ipv4(void **state)
{
	uint8_t p[1600];
	struct sockaddr_in any, one;
	struct spa_frame f;

	(void)state;
	listen4(&any, "0.0.0.0");
	listen4(&one, "10.0.0.1");
	size_t n = v4(p, "10.0.0.2", "10.0.0.1", PORT, 83, 0);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 1);
	assert_int_equal(f.len, 83);
	assert_ptr_equal(f.payload, p + 28);
	const struct sockaddr_in *s = (const struct sockaddr_in *)&f.src;
	assert_int_equal(s->sin_family, AF_INET);
	assert_int_equal(ntohs(s->sin_port), 40000);
	assert_int_equal(memcmp(&s->sin_addr, p + 12, 4), 0);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&one, &f), 1);
	/* Ethernet padding after the datagram changes nothing. */
	assert_int_equal(spa_frame_parse(p, n, n + 6, (struct sockaddr *)&one, &f), 1);
	assert_int_equal(f.len, 83);

	/* Another address of the host, another port, a fragment: not ours. */
	n = v4(p, "10.0.0.2", "10.0.0.9", PORT, 83, 0);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&one, &f), 0);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 1);
	n = v4(p, "10.0.0.2", "10.0.0.1", PORT + 1, 83, 0);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 0);
	n = v4(p, "10.0.0.2", "10.0.0.1", PORT, 83, 0x2000);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 0);
	n = v4(p, "10.0.0.2", "10.0.0.1", PORT, 83, 0x0001);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 0);

	/* Lengths that disagree, headers cut short, not UDP, not version 4. */
	n = v4(p, "10.0.0.2", "10.0.0.1", PORT, 83, 0);
	assert_int_equal(spa_frame_parse(p, n - 1, n - 1, (struct sockaddr *)&any, &f), 0);
	store16_be(p + 24, 7);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 0);
	n = v4(p, "10.0.0.2", "10.0.0.1", PORT, 83, 0);
	assert_int_equal(spa_frame_parse(p, 27, n, (struct sockaddr *)&any, &f), 0);
	p[9] = IPPROTO_TCP;
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 0);
	n = v4(p, "10.0.0.2", "10.0.0.1", PORT, 83, 0);
	p[0] = 0x44;
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 0);
	p[0] = 0x65;
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 0);
	assert_int_equal(spa_frame_parse(p, n + 1, n, (struct sockaddr *)&any, &f), 0);
}

static void test_too_long_is_reported_not_read(void **state)
{
	static uint8_t p[70000];
	struct sockaddr_in any;
	struct spa_frame f;

	(void)state;
	listen4(&any, "0.0.0.0");
	size_t n = v4(p, "10.0.0.2", "10.0.0.1", PORT, 1300, 0);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 1);
	assert_int_equal(f.len, SPA_DATAGRAM_MAX + 1);
	/* A ring cuts a jumbo datagram to its block: still "too long", never past the capture. */
	n = v4(p, "10.0.0.2", "10.0.0.1", PORT, 60000, 0);
	assert_int_equal(spa_frame_parse(p, 2000, n, (struct sockaddr *)&any, &f), 1);
	assert_int_equal(f.len, SPA_DATAGRAM_MAX + 1);
	assert_int_equal(spa_frame_parse(p, 1000, n, (struct sockaddr *)&any, &f), 0);
}

static void test_ipv6(void **state)
{
	uint8_t p[1600];
	struct sockaddr_in6 any, one;
	struct spa_frame f;

	(void)state;
	memset(&any, 0, sizeof(any));
	any.sin6_family = AF_INET6;
	any.sin6_port = htons(PORT);
	one = any;
	inet_pton(AF_INET6, "fd00::1", &one.sin6_addr);
	size_t n = v6(p, "fd00::2", "fd00::1", PORT, 83);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 1);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&one, &f), 1);
	assert_int_equal(f.len, 83);
	assert_ptr_equal(f.payload, p + 48);
	const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&f.src;
	assert_int_equal(s->sin6_family, AF_INET6);
	assert_int_equal(memcmp(&s->sin6_addr, p + 8, 16), 0);
	n = v6(p, "fd00::2", "fd00::9", PORT, 83);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&one, &f), 0);
	n = v6(p, "fd00::2", "fd00::1", PORT, 83);
	p[6] = 0; /* a hop-by-hop header first: not walked */
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 0);
	n = v6(p, "fd00::2", "fd00::1", PORT, 83);
	store16_be(p + 4, (uint16_t)(n - 40 + 1));
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 0);
	/* An IPv4 packet to an IPv6 listener, and the reverse, are not ours. */
	struct sockaddr_in four;
	listen4(&four, "0.0.0.0");
	n = v6(p, "fd00::2", "fd00::1", PORT, 83);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&four, &f), 0);
	n = v4(p, "10.0.0.2", "10.0.0.1", PORT, 83, 0);
	assert_int_equal(spa_frame_parse(p, n, n, (struct sockaddr *)&any, &f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4),
	    cmocka_unit_test(test_too_long_is_reported_not_read),
	    cmocka_unit_test(test_ipv6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
