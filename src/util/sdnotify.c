/* SPDX-License-Identifier: MIT */
/*
 * sdnotify: the sd_notify(3) datagram without libsystemd. Kept apart from
 * the daemons so server and client need one line per state change.
 */
#include "util/sdnotify.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Fill ${sun} from $NOTIFY_SOCKET; returns the address length, 0 if unset or unusable. */
static socklen_t notify_addr(struct sockaddr_un *sun)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	if (path == NULL || path[0] == '\0')
		return 0;
	len = strlen(path);
	/* Only absolute paths and abstract names: anything else is not systemd's. */
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sun->sun_path))
		return 0;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len);
	if (path[0] == '@')
		sun->sun_path[0] = '\0'; /* abstract names have no terminating NUL */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
}

int sdnotify_send(const char *state)
{
	struct sockaddr_un sun;
	socklen_t alen = notify_addr(&sun);
	ssize_t n;
	int fd, rc = 1;

	if (alen == 0)
		return 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_debug("sd_notify: socket: %s", strerror(errno));
		return -1;
	}
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, alen);
	if (n < 0 || (size_t)n != strlen(state)) {
		log_debug("sd_notify: %s", n < 0 ? strerror(errno) : "short send");
		rc = -1;
	}
	close(fd);
	return rc;
}

void sdnotify_ready(void)
{
	sdnotify_send("READY=1");
}

void sdnotify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	/* systemd matches the reload to its ExecReload by this clock (notify-reload). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
		 (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	sdnotify_send(msg);
}

void sdnotify_stopping(void)
{
	sdnotify_send("STOPPING=1");
}
