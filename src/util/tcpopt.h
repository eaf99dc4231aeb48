/* SPDX-License-Identifier: MIT */
/*
 * tcpopt: postern's own TCP listeners and outgoing connections, made with
 * the socket options it wants on them.
 *
 * Connections between two ends on this host (a loopback address) get a
 * congestion control that does not pace.  Pacing (BBR turns it on, and many
 * systems make BBR the default) spaces a sender's packets with a timer; on
 * loopback there is no queue to protect and nothing is ever lost, so all it
 * buys is a timer interrupt every few packets, which a virtual CPU pays for
 * with an exit to the hypervisor (what that costs: bench/results/NOTES.md).
 * The choice is made before the connection exists, on listeners before
 * listen() (accepted connections inherit it) and on outgoing sockets before
 * connect(), so no connection ever paces and none pays a system call per
 * accept for it.  A wildcard listener keeps the system's
 * choice even for loopback peers, and so do all other connections: over a real
 * network, pacing is what the administrator asked for.
 */
#ifndef POSTERN_TCPOPT_H
#define POSTERN_TCPOPT_H

#include <sys/socket.h>
#include <uv.h>

/* tcpopt_is_loopback(sa): 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
int tcpopt_is_loopback(const struct sockaddr *sa);

/* tcpopt_listen(t, sa, backlog, cb): bind the initialised handle ${t} to ${sa}
 * (IPv6 sockets v6-only, so "*" can hold 0.0.0.0 and :: on one port), set the
 * options above, listen.  0 or a libuv error. */
int tcpopt_listen(uv_tcp_t *t, const struct sockaddr *sa, int backlog, uv_connection_cb cb);

/* tcpopt_connect(req, t, peer, cb): uv_tcp_connect() on the initialised,
 * socketless handle ${t}, with the options above set before the connect. */
int tcpopt_connect(uv_connect_t *req, uv_tcp_t *t, const struct sockaddr *peer, uv_connect_cb cb);

#endif
