/* SPDX-License-Identifier: MIT */
#include "util/caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* glibc has no wrapper; the raw call is the stable kernel ABI. */
static int cap_set(const struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	return (int)syscall(SYS_capset, &h, d);
}

int caps_keep_begin(char *err)
{
	if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) == 0)
		return 0;
	snprintf(err, CAPS_ERR_MAX, "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
	return -1;
}

int caps_keep_net_admin(char *err)
{
	/* CAP_NET_ADMIN is 12: its bit lives in the first 32-bit word. */
	_Static_assert(CAP_NET_ADMIN < 32, "CAP_NET_ADMIN in word 0");
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	d[0].permitted = d[0].effective = 1u << CAP_NET_ADMIN;
	int rc = cap_set(d);
	int saved = errno;
	/* Whatever happened, later uid changes must not keep anything. */
	(void)prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
	if (rc == 0)
		return 0;
	snprintf(err, CAPS_ERR_MAX, "capset(CAP_NET_ADMIN): %s", strerror(saved));
	return -1;
}
