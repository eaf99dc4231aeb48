/* SPDX-License-Identifier: MIT */
/*
 * admit: who may use a local entrance (-L, -D). A policy is parsed from
 * text by a pure parser; at run time an admit context finds the peer of an
 * accepted connection (NETLINK_SOCK_DIAG for TCP, SO_PEERCRED for Unix
 * sockets, /proc for the owning process when the policy needs one) and
 * decides, asking an approval program when the policy says `ask`.
 */
#ifndef POSTERN_ADMIT_H
#define POSTERN_ADMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

enum {
	ADMIT_TEXT_MAX = 1023, /* a policy as written */
	ADMIT_MAX_UIDS = 32,
	ADMIT_MAX_EXES = 8,
	ADMIT_EXE_MAX = 255,
	ADMIT_ERR_MAX = 256,
};

enum admit_term {
	ADMIT_ANY = 1u << 0,
	ADMIT_LOOPBACK = 1u << 1,
	ADMIT_SAME_USER = 1u << 2,
	ADMIT_UID = 1u << 3,
	ADMIT_EXE = 1u << 4,
	ADMIT_TREE = 1u << 5,
	ADMIT_ASK = 1u << 6,
};

/*
 * A parsed policy: the terms in ${terms}; a peer is admitted when it meets
 * every term (uid: and exe: lists are alternatives within their term).
 * ${text} is the canonical form, for logs ("uid:1000,1001 exe:/usr/bin/psql").
 */
struct admit_policy {
	unsigned terms;
	uid_t uids[ADMIT_MAX_UIDS];
	size_t nuids;
	char exes[ADMIT_MAX_EXES][ADMIT_EXE_MAX + 1];
	size_t nexes;
	char text[ADMIT_TEXT_MAX + 1];
};

/*
 * admit_parse(s, p, err): fill ${p} from ${s}: whitespace-separated terms
 * `any` | `loopback` | `same-user` | `uid:N[,N...]` | `exe:/ABS/PATH[,...]`
 * | `same-process-tree` | `ask`; `any` stands alone; a term at most once.
 * Pure (touches no file or process). Returns 0, or -1 with a message in
 * ${err} (ADMIT_ERR_MAX bytes) that quotes no more than a printable prefix.
 */
int admit_parse(const char *s, struct admit_policy *p, char *err);

/*
 * admit_policy_resolve(p): replace each exe: path by its realpath(3) when
 * it resolves (/proc/PID/exe names the real file). Not pure: run it once
 * when an entrance opens.
 */
void admit_policy_resolve(struct admit_policy *p);

/* admit_needs_process(p): 1 if deciding ${p} needs the peer's pid (exe, tree, ask). */
int admit_needs_process(const struct admit_policy *p);

struct admit_ctx;

struct admit_options {
	const char *ask_program; /* "" or NULL: no program, `ask` denies */
	unsigned ask_timeout_ms; /* deny when the program has not answered by then */
	unsigned max_pending;	 /* admissions in progress at once; more are refused */
};

/*
 * admit_ctx_new(loop, o): one per process. Opens the sock_diag socket
 * lazily. The tree root for same-process-tree is postern's parent until
 * admit_ctx_set_root() says otherwise. NULL on out of memory.
 */
struct admit_ctx *admit_ctx_new(uv_loop_t *loop, const struct admit_options *o);

/*
 * admit_ctx_set_root(ctx, pid, subreaper): same-process-tree now means
 * ${pid} (at its current start time) and its descendants; with ${subreaper}
 * also our own descendants (orphans re-parented to us, PR_SET_CHILD_SUBREAPER).
 * Returns 0, or -1 if ${pid} is gone.
 */
int admit_ctx_set_root(struct admit_ctx *ctx, pid_t pid, int subreaper);

/*
 * admit_ctx_close(ctx): kill running approval programs (their connections
 * are refused) and free ${ctx} once no lookup is in flight; NULL is a no-op.
 */
void admit_ctx_close(struct admit_ctx *ctx);

/*
 * The verdict for one connection: ${allowed} 1 or 0. The fd belongs to the
 * caller throughout; the callback runs later from the loop, never from
 * inside admit_check().
 */
typedef void (*admit_cb)(void *arg, int allowed);

/*
 * admit_check(ctx, p, fd, is_unix, entrance, dest, cb, arg): decide whether
 * the peer of the accepted ${fd} may use the entrance named ${entrance}
 * (for logs) leading to ${dest}. A refusal is logged (rate-limited) as
 * "connection from PEER (pid N EXE uid U) rejected by policy P on ENTRANCE".
 * Returns 1: admitted now (the common same-user and uid: cases, one netlink
 * round trip); 0: ${cb} will run with the verdict (a /proc lookup on the
 * thread pool, an approval program); -1: refuse now, ${cb} will not run
 * (out of memory, or max_pending admissions already in progress).
 */
int admit_check(struct admit_ctx *ctx, const struct admit_policy *p, int fd, int is_unix,
		const char *entrance, const char *dest, admit_cb cb, void *arg);

/*
 * admit_proc_stat(text, ppid, start): from the contents of /proc/PID/stat,
 * the parent pid (field 4) and the start time (field 22, clock ticks since
 * boot). Pure. Returns 0 or -1.
 */
int admit_proc_stat(const char *text, pid_t *ppid, unsigned long long *start);

#endif
