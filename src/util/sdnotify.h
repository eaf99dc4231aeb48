/* SPDX-License-Identifier: MIT */
/*
 * sdnotify: tell systemd (Type=notify) when the daemon is ready, reloading
 * or stopping. The protocol is one datagram to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a leading '@' means the abstract namespace), so no
 * library is needed. Without $NOTIFY_SOCKET every call does nothing.
 */
#ifndef POSTERN_SDNOTIFY_H
#define POSTERN_SDNOTIFY_H

/*
 * sdnotify_send(state): send ${state} ("READY=1", newline-separated
 * assignments) to $NOTIFY_SOCKET. Returns 1 if sent, 0 if there is no
 * socket to tell, -1 if sending failed (logged at debug level: a daemon
 * must not fail because its supervisor went away).
 */
int sdnotify_send(const char *state);

/* sdnotify_ready(): "READY=1": listeners are up (also ends a reload). */
void sdnotify_ready(void);

/* sdnotify_reloading(): "RELOADING=1" with MONOTONIC_USEC, before a reload. */
void sdnotify_reloading(void);

/* sdnotify_stopping(): "STOPPING=1", when a shutdown starts. */
void sdnotify_stopping(void);

#endif
