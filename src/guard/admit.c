/* SPDX-License-Identifier: MIT */
/*
 * admit: local entrance admission. It owns the policy grammar (a pure
 * parser), the peer lookup (sock_diag for a TCP peer's uid and socket inode,
 * SO_PEERCRED for Unix sockets, /proc for the process that holds the inode,
 * its executable, start time and parent chain) and the `ask` approval
 * program with its per-process and per-executable memory. Everything that
 * reads /proc runs on the thread pool, so a slow scan never stalls the loop;
 * the common case (same-user, uid:) needs only one netlink round trip on the
 * loop.
 */
#include "guard/admit.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

extern char **environ;

enum {
	QUOTE_MAX = 48,
	CACHE_N = 256,	      /* remembered ask answers */
	HINT_N = 8,	      /* recent socket owners, tried before a full /proc scan */
	CHAIN_MAX = 4096,     /* parent links followed */
	SCAN_BUDGET_MS = 250, /* a /proc scan gives up (peer unidentified) after this */
	PEER_MAX = 64,
	NAME_MAX_ = 300,
};

/* ---- the grammar (pure) ---- */

static int set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int set_err(char *err, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, ADMIT_ERR_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *quote(char *out, const char *s, size_t n)
{
	size_t i;
	for (i = 0; i < n && i < QUOTE_MAX; i++)
		out[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	if (n > QUOTE_MAX)
		memcpy(out + i, "...", 3), i += 3;
	out[i] = 0;
	return out;
}

static const struct {
	const char *word;
	unsigned term;
} words[] = {
    {"any", ADMIT_ANY},
    {"loopback", ADMIT_LOOPBACK},
    {"same-user", ADMIT_SAME_USER},
    {"same-process-tree", ADMIT_TREE},
    {"ask", ADMIT_ASK},
};

static int parse_uids(const char *v, size_t n, struct admit_policy *p, char *err)
{
	char q[QUOTE_MAX + 4];
	size_t i = 0;
	while (i <= n) {
		unsigned long long u = 0;
		size_t start = i;
		while (i < n && v[i] >= '0' && v[i] <= '9') {
			u = u * 10 + (unsigned)(v[i] - '0');
			if (u > 4294967294ull)
				return set_err(err, "admit: uid '%s' is out of range",
					       quote(q, v + start, n - start));
			i++;
		}
		if (i == start || (i < n && v[i] != ','))
			return set_err(err, "admit: bad uid list '%s' (expected uid:N[,N...])",
				       quote(q, v, n));
		if (p->nuids == ADMIT_MAX_UIDS)
			return set_err(err, "admit: too many uids (max %d)", ADMIT_MAX_UIDS);
		p->uids[p->nuids++] = (uid_t)u;
		i++;
	}
	return 0;
}

static int parse_exes(const char *v, size_t n, struct admit_policy *p, char *err)
{
	char q[QUOTE_MAX + 4];
	size_t i = 0;
	while (i <= n) {
		size_t start = i;
		while (i < n && v[i] != ',')
			i++;
		size_t len = i - start;
		if (len == 0 || v[start] != '/')
			return set_err(err, "admit: exe '%s' is not an absolute path",
				       quote(q, v + start, len));
		if (len > ADMIT_EXE_MAX)
			return set_err(err, "admit: exe path longer than %d bytes", ADMIT_EXE_MAX);
		for (size_t k = start; k < i; k++)
			if (!isprint((unsigned char)v[k]))
				return set_err(err, "admit: exe path with a control byte");
		if (p->nexes == ADMIT_MAX_EXES)
			return set_err(err, "admit: too many executables (max %d)", ADMIT_MAX_EXES);
		memcpy(p->exes[p->nexes], v + start, len);
		p->exes[p->nexes++][len] = 0;
		i++;
	}
	return 0;
}

static int parse_term(const char *t, size_t n, struct admit_policy *p, char *err)
{
	char q[QUOTE_MAX + 4];
	unsigned term = 0;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].word) == n && memcmp(words[i].word, t, n) == 0)
			term = words[i].term;
	if (term == 0 && n > 4 && memcmp(t, "uid:", 4) == 0)
		term = ADMIT_UID;
	else if (term == 0 && n > 4 && memcmp(t, "exe:", 4) == 0)
		term = ADMIT_EXE;
	if (term == 0)
		return set_err(err,
			       "admit: unknown term '%s' (expected any, loopback, same-user, "
			       "uid:N,..., exe:/PATH,..., same-process-tree or ask)",
			       quote(q, t, n));
	if (p->terms & term)
		return set_err(err, "admit: '%s' given twice", quote(q, t, n));
	p->terms |= term;
	if (term == ADMIT_UID)
		return parse_uids(t + 4, n - 4, p, err);
	if (term == ADMIT_EXE)
		return parse_exes(t + 4, n - 4, p, err);
	return 0;
}

static void canonical(struct admit_policy *p)
{
	size_t used = 0, cap = sizeof(p->text);
	char *o = p->text;
#define PUT(...)                                                                                   \
	do {                                                                                       \
		int w_ = snprintf(o + used, cap - used, __VA_ARGS__);                              \
		if (w_ > 0)                                                                        \
			used = used + (size_t)w_ < cap ? used + (size_t)w_ : cap - 1;              \
	} while (0)
	o[0] = 0;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (!(p->terms & words[i].term) || words[i].term == ADMIT_ASK)
			continue;
		PUT("%s%s", used ? " " : "", words[i].word);
	}
	if (p->terms & ADMIT_UID) {
		PUT("%suid:", used ? " " : "");
		for (size_t i = 0; i < p->nuids; i++)
			PUT("%s%u", i ? "," : "", (unsigned)p->uids[i]);
	}
	if (p->terms & ADMIT_EXE) {
		PUT("%sexe:", used ? " " : "");
		for (size_t i = 0; i < p->nexes; i++)
			PUT("%s%s", i ? "," : "", p->exes[i]);
	}
	if (p->terms & ADMIT_ASK)
		PUT("%sask", used ? " " : "");
#undef PUT
}

int admit_parse(const char *s, struct admit_policy *p, char *err)
{
	if (s == NULL || p == NULL)
		return set_err(err, "admit: no policy");
	memset(p, 0, sizeof(*p));
	if (strlen(s) > ADMIT_TEXT_MAX)
		return set_err(err, "admit: policy longer than %d bytes", ADMIT_TEXT_MAX);
	const char *c = s;
	for (;;) {
		while (*c == ' ' || *c == '\t')
			c++;
		if (*c == 0)
			break;
		const char *e = c;
		while (*e != 0 && *e != ' ' && *e != '\t')
			e++;
		if (parse_term(c, (size_t)(e - c), p, err) != 0)
			return -1;
		c = e;
	}
	if (p->terms == 0)
		return set_err(err, "admit: empty policy (use any to admit everyone)");
	if ((p->terms & ADMIT_ANY) && p->terms != ADMIT_ANY)
		return set_err(err, "admit: any cannot be combined with other terms");
	canonical(p);
	return 0;
}

int admit_needs_process(const struct admit_policy *p)
{
	return (p->terms & (ADMIT_EXE | ADMIT_TREE | ADMIT_ASK)) != 0;
}

void admit_policy_resolve(struct admit_policy *p)
{
	char real[PATH_MAX];
	for (size_t i = 0; i < p->nexes; i++)
		if (realpath(p->exes[i], real) != NULL && strlen(real) <= ADMIT_EXE_MAX)
			snprintf(p->exes[i], sizeof(p->exes[i]), "%s", real);
}

int admit_proc_stat(const char *text, pid_t *ppid, unsigned long long *start)
{
	/* comm (field 2) may hold spaces and parentheses: fields resume after the last ')'. */
	const char *r = text == NULL ? NULL : strrchr(text, ')');
	if (r == NULL)
		return -1;
	r++;
	unsigned long long v = 0;
	int field = 2, have_ppid = 0;
	while (*r != 0) {
		while (*r == ' ')
			r++;
		if (*r == 0)
			break;
		field++;
		const char *b = r;
		while (*r != 0 && *r != ' ')
			r++;
		if (field == 4 || field == 22) {
			v = 0;
			for (const char *d = b; d < r; d++) {
				if (*d < '0' || *d > '9' || v > (~0ull - 9) / 10)
					return -1;
				v = v * 10 + (unsigned)(*d - '0');
			}
			if (field == 4) {
				if (v > INT_MAX)
					return -1;
				*ppid = (pid_t)v;
				have_ppid = 1;
			} else {
				*start = v;
				return have_ppid ? 0 : -1;
			}
		}
	}
	return -1;
}

/* ---- the run-time context ---- */

/* An answer holds for one entrance: approving psql for the database says nothing
 * about the SOCKS entrance. */
struct cache_ent {
	int used, per_exe, allowed;
	pid_t pid;
	unsigned long long start;
	char exe[ADMIT_EXE_MAX + 1];
	char entrance[ADMIT_EXE_MAX + 1];
};

struct job;

struct admit_ctx {
	uv_loop_t *loop;
	int nl; /* NETLINK_SOCK_DIAG, -1 until first used */
	uint32_t seq;
	char ask_program[PATH_MAX];
	unsigned ask_timeout_ms, max_pending, pending;
	pid_t self, root_pid;
	unsigned long long root_start;
	int subreaper, closing;
	uv_mutex_t hint_lock; /* hints are read and written by pool threads */
	pid_t hint[HINT_N];
	size_t hint_next;
	struct cache_ent cache[CACHE_N];
	size_t cache_next;
	struct job *asking; /* jobs whose approval program runs */
	/* Without ask_program, in the foreground on a terminal: one question at a time. */
	struct job *prompting, *queue, **queue_tail;
	uv_tty_t tty;
	int tty_state; /* 0 closed, 1 open, 2 closing */
	char answer[64];
	size_t answer_len;
};

struct job {
	struct admit_ctx *ctx;
	struct admit_policy p;
	int fd, is_unix, loopback;
	char peer[PEER_MAX], entrance[NAME_MAX_], dest[NAME_MAX_];
	int have_uid, have_pid, in_tree;
	uid_t uid;
	unsigned long inode;
	pid_t pid;
	unsigned long long start;
	char exe[PATH_MAX];
	const char *why; /* extra reason for the log line, or NULL */
	admit_cb cb;
	void *arg;
	uv_work_t work;
	uv_process_t proc;
	uv_timer_t timer;
	int handles, exited, verdict;
	struct job *next;
};

struct admit_ctx *admit_ctx_new(uv_loop_t *loop, const struct admit_options *o)
{
	struct admit_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	if (uv_mutex_init(&c->hint_lock) != 0) {
		free(c);
		return NULL;
	}
	c->loop = loop;
	c->nl = -1;
	c->self = getpid();
	if (o != NULL && o->ask_program != NULL)
		snprintf(c->ask_program, sizeof(c->ask_program), "%s", o->ask_program);
	c->ask_timeout_ms = o != NULL && o->ask_timeout_ms ? o->ask_timeout_ms : 30000;
	c->max_pending = o != NULL && o->max_pending ? o->max_pending : 32;
	if (admit_ctx_set_root(c, getppid(), 0) != 0)
		c->root_pid = 0;
	return c;
}

static int read_stat(pid_t pid, pid_t *ppid, unsigned long long *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return admit_proc_stat(buf, ppid, start);
}

int admit_ctx_set_root(struct admit_ctx *ctx, pid_t pid, int subreaper)
{
	pid_t pp;
	unsigned long long st;
	if (read_stat(pid, &pp, &st) != 0)
		return -1;
	ctx->root_pid = pid;
	ctx->root_start = st;
	ctx->subreaper = subreaper;
	return 0;
}

static void ctx_maybe_free(struct admit_ctx *ctx)
{
	if (!ctx->closing || ctx->pending != 0 || ctx->tty_state != 0)
		return;
	if (ctx->nl >= 0)
		close(ctx->nl);
	uv_mutex_destroy(&ctx->hint_lock);
	free(ctx);
}

static void prompt_cancel_all(struct admit_ctx *ctx);

void admit_ctx_close(struct admit_ctx *ctx)
{
	if (ctx == NULL)
		return;
	ctx->closing = 1;
	for (struct job *j = ctx->asking; j != NULL; j = j->next)
		if (!j->exited)
			kill(-j->proc.pid, SIGKILL);
	prompt_cancel_all(ctx);
	ctx_maybe_free(ctx);
}

/* ---- finding the peer ---- */

static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family != AF_INET6)
		return 0;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (IN6_IS_ADDR_LOOPBACK(a))
		return 1;
	return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
}

/* v4-mapped addresses become AF_INET, so the kernel's lookup finds either socket kind. */
static void unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = s6->sin6_port};
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

static void fill_id(struct inet_diag_sockid *id, const struct sockaddr_storage *src,
		    const struct sockaddr_storage *dst)
{
	if (src->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)src, *d = (const void *)dst;
		id->idiag_sport = s->sin_port;
		id->idiag_dport = d->sin_port;
		memcpy(id->idiag_src, &s->sin_addr, 4);
		memcpy(id->idiag_dst, &d->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *s = (const void *)src, *d = (const void *)dst;
		id->idiag_sport = s->sin6_port;
		id->idiag_dport = d->sin6_port;
		memcpy(id->idiag_src, &s->sin6_addr, 16);
		memcpy(id->idiag_dst, &d->sin6_addr, 16);
	}
	id->idiag_cookie[0] = id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
}

/*
 * The peer's socket is the one whose local end is our remote end: one
 * exact-tuple request (no dump), answered while sendto() runs.
 */
static int diag_lookup(struct admit_ctx *ctx, struct sockaddr_storage *peer,
		       struct sockaddr_storage *local, uid_t *uid, unsigned long *inode)
{
	if (ctx->nl < 0) {
		ctx->nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
		if (ctx->nl < 0)
			return -1;
		struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
		setsockopt(ctx->nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	unmap(peer);
	unmap(local);
	if (peer->ss_family != local->ss_family)
		return -1;
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
	    .nlh = {.nlmsg_len = sizeof(req),
		    .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		    .nlmsg_flags = NLM_F_REQUEST,
		    .nlmsg_seq = ++ctx->seq},
	    .r = {.sdiag_family = (uint8_t)peer->ss_family,
		  .sdiag_protocol = IPPROTO_TCP,
		  .idiag_states = ~0u},
	};
	fill_id(&req.r.id, peer, local);
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (sendto(ctx->nl, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -1;
	union {
		struct nlmsghdr h;
		char b[8192];
	} buf;
	for (;;) {
		ssize_t n = recv(ctx->nl, buf.b, sizeof(buf.b), 0);
		if (n < 0)
			return -1;
		for (struct nlmsghdr *h = &buf.h; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != ctx->seq)
				continue; /* a late answer to a request that timed out */
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				return -1;
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			*uid = (uid_t)m->idiag_uid;
			*inode = m->idiag_inode;
			return 0;
		}
	}
}

static int holds_inode(pid_t pid, const char *want, size_t wantlen)
{
	char path[64], link[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	int found = 0;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof(link));
		found = n == (ssize_t)wantlen && memcmp(link, want, wantlen) == 0;
	}
	closedir(d);
	return found;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Which process holds socket ${inode}: the recent owners first (a client
 * that connects often is found in one directory read), then every process
 * of the socket's uid, within SCAN_BUDGET_MS. Pool thread.
 */
static pid_t find_owner(struct admit_ctx *ctx, unsigned long inode, int have_uid, uid_t uid)
{
	char want[40];
	size_t wantlen = (size_t)snprintf(want, sizeof(want), "socket:[%lu]", inode);
	pid_t hint[HINT_N];
	uv_mutex_lock(&ctx->hint_lock);
	memcpy(hint, ctx->hint, sizeof(hint));
	uv_mutex_unlock(&ctx->hint_lock);
	for (size_t i = 0; i < HINT_N; i++)
		if (hint[i] > 0 && holds_inode(hint[i], want, wantlen))
			return hint[i];
	DIR *d = opendir("/proc");
	if (d == NULL)
		return 0;
	pid_t found = 0;
	uint64_t deadline = mono_ms() + SCAN_BUDGET_MS;
	unsigned n = 0;
	struct dirent *e;
	while (found == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		if ((++n & 63) == 0 && mono_ms() > deadline)
			break;
		struct stat st;
		if (have_uid && (fstatat(dirfd(d), e->d_name, &st, 0) != 0 || st.st_uid != uid))
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (holds_inode(pid, want, wantlen))
			found = pid;
	}
	closedir(d);
	if (found != 0) {
		uv_mutex_lock(&ctx->hint_lock);
		ctx->hint[ctx->hint_next++ % HINT_N] = found;
		uv_mutex_unlock(&ctx->hint_lock);
	}
	return found;
}

/*
 * Is ${pid} (started at ${start}) the root or below it? Each parent must
 * have started no later than its child: a parent pid reused by a newer
 * process ends the chain, so a recycled pid never matches.
 */
static int in_tree(const struct admit_ctx *ctx, pid_t pid, unsigned long long start)
{
	for (int i = 0; i < CHAIN_MAX && pid > 1; i++) {
		if (ctx->root_pid != 0 && pid == ctx->root_pid && start == ctx->root_start)
			return 1;
		if (ctx->subreaper && pid == ctx->self && i > 0)
			return 1;
		pid_t ppid, up;
		unsigned long long now, pstart;
		/* The process must still be the one we saw (same start time). */
		if (read_stat(pid, &ppid, &now) != 0 || now != start)
			return 0;
		if (ppid <= 0 || read_stat(ppid, &up, &pstart) != 0 || pstart > start)
			return 0;
		pid = ppid;
		start = pstart;
	}
	return 0;
}

static void work_lookup(uv_work_t *w)
{
	struct job *j = w->data;
	if (!j->have_pid && j->inode != 0)
		j->pid = find_owner(j->ctx, j->inode, j->have_uid, j->uid);
	j->have_pid = j->pid > 0;
	if (!j->have_pid)
		return;
	pid_t ppid;
	char path[64];
	if (read_stat(j->pid, &ppid, &j->start) != 0) {
		j->have_pid = 0;
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)j->pid);
	ssize_t n = readlink(path, j->exe, sizeof(j->exe) - 1);
	j->exe[n > 0 ? n : 0] = 0;
	if (j->p.terms & ADMIT_TREE)
		j->in_tree = in_tree(j->ctx, j->pid, j->start);
}

/* ---- deciding ---- */

static int uid_listed(const struct job *j)
{
	for (size_t i = 0; i < j->p.nuids; i++)
		if (j->p.uids[i] == j->uid)
			return 1;
	return 0;
}

static int exe_listed(const struct job *j)
{
	for (size_t i = 0; j->exe[0] != 0 && i < j->p.nexes; i++)
		if (strcmp(j->p.exes[i], j->exe) == 0)
			return 1;
	return 0;
}

/* The terms decidable from the socket alone: 1 pass, 0 fail. */
static int cheap_terms(const struct job *j)
{
	unsigned t = j->p.terms;
	if ((t & ADMIT_LOOPBACK) && !j->loopback)
		return 0;
	if ((t & ADMIT_SAME_USER) && !(j->have_uid && j->uid == geteuid()))
		return 0;
	if ((t & ADMIT_UID) && !(j->have_uid && uid_listed(j)))
		return 0;
	return 1;
}

static void log_refusal(const struct job *j)
{
	char exe[PATH_MAX], pid[16] = "?", uid[16] = "?";
	if (j->have_pid)
		snprintf(pid, sizeof(pid), "%d", (int)j->pid);
	if (j->have_uid)
		snprintf(uid, sizeof(uid), "%u", (unsigned)j->uid);
	log_printable(exe, (const uint8_t *)(j->exe[0] ? j->exe : "?"),
		      strlen(j->exe[0] ? j->exe : "?"));
	log_peer(LOG_LVL_WARN,
		 "connection rejected peer=%s pid=%s exe=%s uid=%s admit=%s entrance=%s reason=%s",
		 log_q(j->peer), pid, log_q(exe), uid, log_q(j->p.text), log_q(j->entrance),
		 log_q(j->why ? j->why : "policy"));
}

static void job_free(struct job *j)
{
	struct admit_ctx *ctx = j->ctx;
	ctx->pending--;
	free(j);
	ctx_maybe_free(ctx);
}

static void finish(struct job *j, int allowed)
{
	if (!allowed)
		log_refusal(j);
	j->cb(j->arg, allowed);
	if (j->handles == 0)
		job_free(j);
}

static struct cache_ent *cache_find(struct admit_ctx *ctx, const struct job *j)
{
	for (size_t i = 0; i < CACHE_N; i++) {
		struct cache_ent *e = &ctx->cache[i];
		if (!e->used || strcmp(e->exe, j->exe) != 0 ||
		    strcmp(e->entrance, j->entrance) != 0)
			continue;
		if (e->per_exe || (e->pid == j->pid && e->start == j->start))
			return e;
	}
	return NULL;
}

/*
 * Keyed by pid + start time + executable: the executable too, because
 * execve() keeps the pid and start time, and an approved shell that execs
 * something else is not what the user approved.
 */
static void cache_put(struct admit_ctx *ctx, const struct job *j, int per_exe, int allowed)
{
	if (strlen(j->exe) > ADMIT_EXE_MAX || j->exe[0] == 0 || strlen(j->entrance) > ADMIT_EXE_MAX)
		return;
	struct cache_ent *e = &ctx->cache[ctx->cache_next++ % CACHE_N];
	e->used = 1;
	e->per_exe = per_exe;
	e->allowed = allowed;
	e->pid = j->pid;
	e->start = j->start;
	snprintf(e->exe, sizeof(e->exe), "%s", j->exe);
	snprintf(e->entrance, sizeof(e->entrance), "%s", j->entrance);
}

static void unlink_asking(struct job *j)
{
	for (struct job **pp = &j->ctx->asking; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			return;
		}
}

static void on_ask_handle_closed(uv_handle_t *h)
{
	struct job *j = h->data;
	if (--j->handles == 0)
		job_free(j);
}

static void ask_done(struct job *j, int verdict_code)
{
	/* 0 allow, 3 allow this executable, 4 deny it; anything else denies this process. */
	int allowed = verdict_code == 0 || verdict_code == 3;
	if (verdict_code >= 0)
		cache_put(j->ctx, j, verdict_code == 3 || verdict_code == 4, allowed);
	unlink_asking(j);
	/* Both handles close first, so finish() never frees the job under them. */
	uv_close((uv_handle_t *)&j->timer, on_ask_handle_closed);
	uv_close((uv_handle_t *)&j->proc, on_ask_handle_closed);
	finish(j, allowed);
}

static void on_ask_exit(uv_process_t *p, int64_t status, int sig)
{
	struct job *j = p->data;
	j->exited = 1;
	if (j->verdict == -2) {
		ask_done(j, -1); /* killed at the timeout: deny, remember nothing */
		return;
	}
	if (sig != 0)
		j->why = "approval program killed";
	else if (status != 0 && status != 3)
		j->why = "approval program said no";
	ask_done(j, sig != 0 ? -1 : (int)status);
}

/* Kill the program's whole group; its exit (and so the verdict) follows. */
static void on_ask_timeout(uv_timer_t *t)
{
	struct job *j = t->data;
	j->why = "approval program did not answer in time";
	j->verdict = -2;
	kill(-j->proc.pid, SIGKILL);
}

/* ---- asking on the controlling terminal ---- */

static int in_foreground(void)
{
	return isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
}

static void on_tty_closed(uv_handle_t *h)
{
	struct admit_ctx *ctx = h->data;
	ctx->tty_state = 0;
	ctx_maybe_free(ctx);
}

static void prompt_next(struct admit_ctx *ctx);

/* The answer (or the timeout) for the job on the terminal or in the queue. */
static void prompt_done(struct job *j, int code)
{
	struct admit_ctx *ctx = j->ctx;
	if (ctx->prompting == j) {
		ctx->prompting = NULL;
	} else {
		for (struct job **pp = &ctx->queue; *pp != NULL; pp = &(*pp)->next)
			if (*pp == j) {
				*pp = j->next;
				break;
			}
		ctx->queue_tail = &ctx->queue;
		while (*ctx->queue_tail != NULL)
			ctx->queue_tail = &(*ctx->queue_tail)->next;
	}
	int allowed = code == 0 || code == 3;
	if (code >= 0)
		cache_put(ctx, j, code == 3 || code == 4, allowed);
	else if (j->why == NULL)
		j->why = "no answer on the terminal";
	if (code > 0 && !allowed)
		j->why = "refused on the terminal";
	uv_close((uv_handle_t *)&j->timer, on_ask_handle_closed);
	finish(j, allowed);
	prompt_next(ctx);
}

static void tty_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct admit_ctx *ctx = h->data;
	(void)hint;
	*buf = uv_buf_init(ctx->answer + ctx->answer_len,
			   (unsigned)(sizeof(ctx->answer) - 1 - ctx->answer_len));
}

static void on_tty_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct admit_ctx *ctx = st->data;
	(void)buf;
	if (n < 0) {
		uv_read_stop(st);
		if (ctx->prompting != NULL)
			prompt_done(ctx->prompting, -1);
		return;
	}
	ctx->answer_len += (size_t)n;
	ctx->answer[ctx->answer_len] = 0;
	char *nl = strchr(ctx->answer, '\n');
	if (nl == NULL && ctx->answer_len < sizeof(ctx->answer) - 1)
		return;
	char c = ctx->answer[0];
	ctx->answer_len = 0;
	if (ctx->prompting == NULL)
		return; /* typed ahead of any question */
	/* y: this process; a: this executable for the session; N: never it; else no. */
	prompt_done(ctx->prompting, c == 'y' || c == 'Y' ? 0 : c == 'a' ? 3 : c == 'N' ? 4 : 1);
}

static void prompt_next(struct admit_ctx *ctx)
{
	if (ctx->prompting != NULL || ctx->tty_state != 1 || ctx->closing)
		return;
	struct job *j = ctx->queue;
	if (j == NULL) {
		uv_read_stop((uv_stream_t *)&ctx->tty);
		return;
	}
	ctx->queue = j->next;
	if (ctx->queue == NULL)
		ctx->queue_tail = &ctx->queue;
	ctx->prompting = j;
	char exe[PATH_MAX], dest[NAME_MAX_];
	log_printable(exe, (const uint8_t *)j->exe, strlen(j->exe));
	log_printable(dest, (const uint8_t *)j->dest, strlen(j->dest));
	dprintf(STDERR_FILENO,
		"postern: allow %s (pid %d %s uid %u) to use %s for %s? "
		"[y]es / [n]o / [a]lways this program / [N]ever this program: ",
		j->peer, (int)j->pid, exe, (unsigned)j->uid, j->entrance, dest);
	ctx->answer_len = 0;
	uv_read_start((uv_stream_t *)&ctx->tty, tty_alloc, on_tty_read);
}

static void on_prompt_timeout(uv_timer_t *t)
{
	struct job *j = t->data;
	if (j->ctx->prompting == j)
		dprintf(STDERR_FILENO, "(no answer: refused)\n");
	j->why = "no answer on the terminal in time";
	prompt_done(j, -1);
}

static void prompt(struct job *j)
{
	struct admit_ctx *ctx = j->ctx;
	if (ctx->tty_state == 0) {
		if (uv_tty_init(ctx->loop, &ctx->tty, STDIN_FILENO, 1) != 0) {
			j->why = "cannot read the terminal";
			finish(j, 0);
			return;
		}
		ctx->tty.data = ctx;
		ctx->tty_state = 1;
	}
	if (ctx->queue_tail == NULL)
		ctx->queue_tail = &ctx->queue;
	j->next = NULL;
	*ctx->queue_tail = j;
	ctx->queue_tail = &j->next;
	j->timer.data = j;
	uv_timer_init(ctx->loop, &j->timer);
	j->handles = 1;
	uv_timer_start(&j->timer, on_prompt_timeout, ctx->ask_timeout_ms, 0);
	prompt_next(ctx);
}

static void prompt_cancel_all(struct admit_ctx *ctx)
{
	while (ctx->prompting != NULL || ctx->queue != NULL)
		prompt_done(ctx->prompting != NULL ? ctx->prompting : ctx->queue, -1);
	if (ctx->tty_state == 1) {
		ctx->tty_state = 2;
		uv_close((uv_handle_t *)&ctx->tty, on_tty_closed);
	}
}

static void ask(struct job *j)
{
	struct admit_ctx *ctx = j->ctx;
	struct cache_ent *e = cache_find(ctx, j);
	if (e != NULL) {
		if (!e->allowed)
			j->why = "denied earlier";
		finish(j, e->allowed);
		return;
	}
	if (ctx->ask_program[0] == 0 && !ctx->closing && in_foreground()) {
		prompt(j);
		return;
	}
	if (ctx->ask_program[0] == 0 || ctx->closing) {
		j->why = "no ask_program, and not in the foreground of a terminal to ask on";
		finish(j, 0);
		return;
	}
	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	char **env = calloc(n + 8, sizeof(*env));
	char v[6][PATH_MAX + 32];
	if (env == NULL) {
		finish(j, 0);
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "POSTERN_", 8) != 0)
			env[k++] = environ[i];
	snprintf(v[0], sizeof(v[0]), "POSTERN_PID=%d", (int)j->pid);
	snprintf(v[1], sizeof(v[1]), "POSTERN_EXE=%s", j->exe);
	snprintf(v[2], sizeof(v[2]), "POSTERN_UID=%u", (unsigned)j->uid);
	snprintf(v[3], sizeof(v[3]), "POSTERN_DEST=%s", j->dest);
	snprintf(v[4], sizeof(v[4]), "POSTERN_PEER=%s", j->peer);
	snprintf(v[5], sizeof(v[5]), "POSTERN_ENTRANCE=%s", j->entrance);
	for (size_t i = 0; i < 6; i++)
		env[k++] = v[i];
	char *args[] = {ctx->ask_program, NULL};
	uv_stdio_container_t io[3] = {{.flags = UV_IGNORE},
				      {.flags = UV_INHERIT_FD, .data.fd = 2},
				      {.flags = UV_INHERIT_FD, .data.fd = 2}};
	uv_process_options_t o = {
	    .exit_cb = on_ask_exit,
	    .file = ctx->ask_program,
	    .args = args,
	    .env = env,
	    .flags = UV_PROCESS_DETACHED, /* its own group: a timeout kills all it started */
	    .stdio_count = 3,
	    .stdio = io,
	};
	j->proc.data = j->timer.data = j;
	int rc = uv_spawn(ctx->loop, &j->proc, &o);
	free(env);
	if (rc != 0) {
		j->why = "cannot run ask_program";
		log_warn("ask_program failed program=%s error=%s", log_q(ctx->ask_program),
			 log_q(uv_strerror(rc)));
		j->handles = 1;
		uv_close((uv_handle_t *)&j->proc, on_ask_handle_closed);
		finish(j, 0);
		return;
	}
	uv_timer_init(ctx->loop, &j->timer);
	j->handles = 2;
	uv_timer_start(&j->timer, on_ask_timeout, ctx->ask_timeout_ms, 0);
	j->next = ctx->asking;
	ctx->asking = j;
}

static void after_lookup(uv_work_t *w, int status)
{
	struct job *j = w->data;
	(void)status;
	int ok = cheap_terms(j);
	if (ok && (j->p.terms & ADMIT_EXE) && !exe_listed(j))
		ok = 0;
	if (ok && (j->p.terms & ADMIT_TREE) && !j->in_tree)
		ok = 0;
	if (ok && admit_needs_process(&j->p) && !j->have_pid) {
		j->why = "no process found for the connection";
		ok = 0;
	}
	if (ok && (j->p.terms & ADMIT_ASK)) {
		ask(j);
		return;
	}
	finish(j, ok);
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;
		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(out, n, "%s:%u", a, (unsigned)ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(out, n, "[%s]:%u", a, (unsigned)ntohs(s->sin6_port));
	} else {
		snprintf(out, n, "?");
	}
}

int admit_check(struct admit_ctx *ctx, const struct admit_policy *p, int fd, int is_unix,
		const char *entrance, const char *dest, admit_cb cb, void *arg)
{
	if (p->terms & ADMIT_ANY)
		return 1;
	if (ctx->closing)
		return -1;
	if (ctx->pending >= ctx->max_pending) {
		log_peer(LOG_LVL_WARN,
			 "connection refused entrance=%s reason=admit_pending admit_pending=%u",
			 log_q(entrance), ctx->pending);
		return -1;
	}
	/* Built on the stack: the common verdict (same-user, uid:) allocates nothing. */
	struct job local, *j = &local;
	memset(j, 0, sizeof(*j));
	j->ctx = ctx;
	j->p = *p;
	j->fd = fd;
	j->is_unix = is_unix;
	j->cb = cb;
	j->arg = arg;
	snprintf(j->entrance, sizeof(j->entrance), "%s", entrance);
	snprintf(j->dest, sizeof(j->dest), "%s", dest);
	if (is_unix) {
		struct ucred cr;
		socklen_t len = sizeof(cr);
		j->loopback = 1;
		snprintf(j->peer, sizeof(j->peer), "unix socket");
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0) {
			j->have_uid = 1;
			j->uid = cr.uid;
			j->pid = cr.pid;
			j->have_pid = cr.pid > 0;
		}
	} else {
		struct sockaddr_storage peer, local;
		socklen_t pl = sizeof(peer), ll = sizeof(local);
		if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0 &&
		    getsockname(fd, (struct sockaddr *)&local, &ll) == 0) {
			format_peer(&peer, j->peer, sizeof(j->peer));
			j->loopback = is_loopback(&peer);
			j->have_uid = diag_lookup(ctx, &peer, &local, &j->uid, &j->inode) == 0;
		} else {
			snprintf(j->peer, sizeof(j->peer), "?");
		}
	}
	if (cheap_terms(j) && !admit_needs_process(p))
		return 1;
	j = malloc(sizeof(*j));
	if (j == NULL)
		return -1;
	memcpy(j, &local, sizeof(*j));
	ctx->pending++;
	j->work.data = j;
	/* Refusals look the process up too: their log line names it. */
	if (uv_queue_work(ctx->loop, &j->work, work_lookup, after_lookup) != 0) {
		ctx->pending--;
		free(j);
		return -1;
	}
	return 0;
}
