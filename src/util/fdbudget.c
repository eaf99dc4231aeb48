/* SPDX-License-Identifier: MIT */
/*
 * fdbudget: owns the process's descriptor limit (RLIMIT_NOFILE, raised at
 * start) and the rule that shares what is left after the reserve between
 * sessions' channels (see fdbudget.h and docs/ARCHITECTURE.md).
 */
#include "util/fdbudget.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static unsigned fd_limit, chan_budget, fd_reserve;
static int fdbudget_shrunk;

/* Descriptors open now (stdio, syslog, libuv's own); -1 if unknown. */
static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n > 3 ? n - 3 : 0; /* ".", ".." and the directory's own */
}

int fdbudget_init(unsigned max_fds, unsigned reserve, char *err, size_t errlen)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		snprintf(err, errlen, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return -1;
	}
	rlim_t want = rl.rlim_max;
	if (max_fds != 0 && (rl.rlim_max == RLIM_INFINITY || (rlim_t)max_fds < rl.rlim_max))
		want = max_fds;
	if (want == RLIM_INFINITY || want > 16777216)
		want = 16777216;
	rl.rlim_cur = want;
	/* Lowering is always allowed; raising up to the hard limit is too. */
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0)
		want = rl.rlim_cur;
	fd_limit = (unsigned)want;
	int open_now = count_open_fds();
	unsigned used = open_now < 0 ? 16 : (unsigned)open_now;
	if (used + 16 >= fd_limit) {
		snprintf(err, errlen, "descriptor limit %u is too low (%u already open)", fd_limit,
			 used);
		return -1;
	}
	/* A small limit still runs: the reserve shrinks to half of what is
	 * left, and the caller hears about it. */
	fdbudget_shrunk = 0;
	if ((unsigned long)reserve + used + 16 >= fd_limit) {
		reserve = (fd_limit - used) / 2;
		fdbudget_shrunk = 1;
	}
	chan_budget = fd_limit - reserve - used;
	fd_reserve = reserve;
	return 0;
}

unsigned fdbudget_reserve(void)
{
	return fd_reserve;
}

int fdbudget_reserve_shrunk(void)
{
	return fdbudget_shrunk;
}

unsigned fdbudget_limit(void)
{
	return fd_limit;
}

unsigned fdbudget_channels(void)
{
	return chan_budget;
}

/* Descriptors held from the channel budget by other than channels (-R listeners). */
static size_t charged;

void fdbudget_charge(long delta)
{
	charged = delta < 0 && (size_t)-delta > charged ? 0 : charged + (size_t)delta;
}

int fdbudget_may_open(size_t mine, size_t used)
{
	if (chan_budget == 0)
		return 1;
	used += charged;
	if (used >= chan_budget)
		return 0;
	/* Others keep what this session holds, or a quarter of the budget if
	 * that is less: a newcomer always finds room, yet a lone session (the
	 * common case: one client, many connections) may use three quarters. */
	size_t keep = chan_budget / 4;
	if (mine < keep)
		keep = mine;
	return chan_budget - used > keep;
}
