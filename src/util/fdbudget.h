/* SPDX-License-Identifier: MIT */
/*
 * fdbudget: the process's file descriptors, shared out so that one session
 * cannot starve new handshakes or other sessions. At start the soft
 * RLIMIT_NOFILE is raised to the hard limit (or to max_fds if that is
 * lower); a reserve is kept for listeners, unauthenticated connections,
 * held refusals and sessions, and what is left is the channel budget.
 */
#ifndef POSTERN_FDBUDGET_H
#define POSTERN_FDBUDGET_H

#include <stddef.h>

/*
 * fdbudget_init(max_fds, reserve, err, errlen): raise the limit as above
 * (max_fds 0 = the hard limit) and set the channel budget to the limit
 * minus ${reserve} minus the descriptors open now. If the limit is too
 * small for the whole reserve, the reserve becomes half of what is free
 * (fdbudget_reserve_shrunk() says so). Returns 0, or -1 with a message in
 * ${err} if the limit is too low to run at all.
 */
int fdbudget_init(unsigned max_fds, unsigned reserve, char *err, size_t errlen);

/* fdbudget_reserve(): the reserve in force; fdbudget_reserve_shrunk(): 1 if it was cut. */
unsigned fdbudget_reserve(void);
int fdbudget_reserve_shrunk(void);

/* fdbudget_limit(): the descriptor limit in force (0 before fdbudget_init). */
unsigned fdbudget_limit(void);

/* fdbudget_channels(): the channel budget (0 = not limited: fdbudget_init never ran). */
unsigned fdbudget_channels(void);

/*
 * fdbudget_may_open(mine, used): 1 if a session holding ${mine} channels may
 * open one more while the process holds ${used}. Refused once the budget is
 * spent, or once what is still free would drop to the smaller of the
 * session's own count and a quarter of the budget: a newcomer always finds
 * room, and a lone session may take three quarters.
 */
int fdbudget_may_open(size_t mine, size_t used);

/*
 * fdbudget_charge(delta): descriptors taken from (delta > 0) or given back to
 * the channel budget by something other than a channel: the server's -R
 * listeners, which fdbudget_may_open() then counts as used.
 */
void fdbudget_charge(long delta);

#endif
