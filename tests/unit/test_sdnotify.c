/* SPDX-License-Identifier: MIT */
/*
 * test_sdnotify: the datagram reaches a socket named by a path and by an
 * abstract name ('@'), carries exactly the state, and without (or with a
 * malformed) $NOTIFY_SOCKET nothing is sent and nothing fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/sdnotify.h"

/* A datagram socket bound to ${name} ("@x": abstract); returns its fd. */
static int listener(const char *name)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sun.sun_path, name, len);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	assert_int_equal(bind(fd, (struct sockaddr *)&sun,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
			 0);
	return fd;
}

static void expect(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void test_path(void **state)
{
	char path[64];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/postern-sdnotify-%d.sock", (int)getpid());
	unlink(path);
	fd = listener(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(sdnotify_send("READY=1"), 1);
	expect(fd, "READY=1");
	sdnotify_stopping();
	expect(fd, "STOPPING=1");
	unsetenv("NOTIFY_SOCKET");
	close(fd);
	unlink(path);
}

static void test_abstract(void **state)
{
	char name[64], buf[256];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@postern-sdnotify-%d", (int)getpid());
	fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	sdnotify_reloading();
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_memory_equal(buf, "RELOADING=1\nMONOTONIC_USEC=", 27);
	sdnotify_ready();
	expect(fd, "READY=1");
	unsetenv("NOTIFY_SOCKET");
	close(fd);
}

static void test_absent_or_odd(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sdnotify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(sdnotify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "relative.sock", 1);
	assert_int_equal(sdnotify_send("READY=1"), 0);
	/* Nobody listening: a failure the daemon shrugs off. */
	setenv("NOTIFY_SOCKET", "/nonexistent/postern-notify.sock", 1);
	assert_int_equal(sdnotify_send("READY=1"), -1);
	sdnotify_ready();
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path),
	    cmocka_unit_test(test_abstract),
	    cmocka_unit_test(test_absent_or_odd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
