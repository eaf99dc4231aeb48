/* SPDX-License-Identifier: MIT */
/*
 * fwd_stdio: -W. Owns three stream handles (stdin, stdout, the socketpair
 * end) and the two one-way copies between them. Each copy stops reading
 * while its destination holds FWD_STDIO_QUEUE bytes, so a slow ssh or a
 * slow tunnel bounds the memory at about that much per direction.
 */
#define LOG_COMPONENT "stdio"
#include "tunnel/fwd_stdio.h"

#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/log.h"

enum { CHUNK = 65536 };

union stream {
	uv_handle_t h;
	uv_stream_t st;
	uv_pipe_t pipe;
	uv_tty_t tty;
};

struct fwd_stdio;

/* One direction: ${from} is read, ${to} written. */
struct copy {
	struct fwd_stdio *f;
	uv_stream_t *from, *to;
	int reading, eof;
	size_t queued;
};

struct fwd_stdio {
	union stream in, out, sock;
	struct copy up;	  /* stdin -> sock */
	struct copy down; /* sock -> stdout */
	uv_shutdown_t shut;
	void (*done)(void *arg, int ok);
	void *arg;
	int finished, closing, open_handles;
};

struct wreq {
	uv_write_t req;
	struct copy *c;
	size_t len;
	char data[];
};

static void finish(struct fwd_stdio *f, int ok)
{
	if (f->finished)
		return;
	f->finished = 1;
	f->done(f->arg, ok);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	struct wreq *w = malloc(sizeof(*w) + CHUNK);
	buf->base = w != NULL ? w->data : NULL;
	buf->len = w != NULL ? CHUNK : 0;
}

static struct wreq *wreq_of(const uv_buf_t *buf)
{
	return (struct wreq *)(void *)(buf->base - offsetof(struct wreq, data));
}

static void copy_resume(struct copy *c)
{
	if (c->reading || c->eof || c->f->finished || c->queued >= FWD_STDIO_QUEUE)
		return;
	if (uv_read_start(c->from, on_alloc, on_read) == 0)
		c->reading = 1;
}

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct copy *c = w->c;
	c->queued -= w->len;
	free(w);
	if (status < 0) {
		finish(c->f, 0);
		return;
	}
	/* The tunnel's end closed and stdout has it all: done. */
	if (c == &c->f->down && c->eof && c->queued == 0)
		finish(c->f, 1);
	copy_resume(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)req;
	(void)status;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct copy *c = st->data;
	struct fwd_stdio *f = c->f;
	if (n > 0) {
		struct wreq *w = wreq_of(buf);
		w->c = c;
		w->len = (size_t)n;
		uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
		if (uv_write(&w->req, c->to, &b, 1, on_written) != 0) {
			free(w);
			finish(f, 0);
			return;
		}
		c->queued += (size_t)n;
		if (c->queued >= FWD_STDIO_QUEUE) {
			uv_read_stop(st);
			c->reading = 0;
		}
		return;
	}
	if (buf->base != NULL)
		free(wreq_of(buf));
	if (n == 0)
		return;
	uv_read_stop(st);
	c->reading = 0;
	c->eof = 1;
	if (c == &f->up) {
		/* stdin ended: the destination sees an end of stream, and may still answer. */
		if (n != UV_EOF || uv_shutdown(&f->shut, c->to, on_shutdown) != 0)
			finish(f, 0);
		return;
	}
	if (n != UV_EOF)
		finish(f, 0);
	else if (c->queued == 0)
		finish(f, 1);
}

static int open_std(uv_loop_t *loop, union stream *s, int fd, int readable)
{
	uv_handle_type t = uv_guess_handle(fd);
	if (t == UV_TTY)
		return uv_tty_init(loop, &s->tty, fd, readable);
	if (t != UV_NAMED_PIPE && t != UV_TCP && t != UV_UNKNOWN_HANDLE)
		return UV_EINVAL;
	int rc = uv_pipe_init(loop, &s->pipe, 0);
	if (rc != 0)
		return rc;
	rc = uv_pipe_open(&s->pipe, fd);
	if (rc != 0)
		uv_close(&s->h, NULL);
	return rc;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct copy *c = h->data;
	if (c != NULL && --c->f->open_handles == 0)
		free(c->f);
}

struct fwd_stdio *fwd_stdio_start(uv_loop_t *loop, int sock, void (*done)(void *arg, int ok),
				  void *arg)
{
	struct fwd_stdio *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->done = done;
	f->arg = arg;
	f->up = (struct copy){.f = f, .from = &f->in.st, .to = &f->sock.st};
	f->down = (struct copy){.f = f, .from = &f->sock.st, .to = &f->out.st};
	if (uv_pipe_init(loop, &f->sock.pipe, 0) != 0) {
		free(f);
		return NULL;
	}
	f->sock.h.data = &f->down;
	f->open_handles = 1;
	if (uv_pipe_open(&f->sock.pipe, sock) != 0) {
		f->finished = 1;
		uv_close(&f->sock.h, on_handle_closed); /* frees ${f} */
		return NULL;
	}
	int rc = open_std(loop, &f->in, STDIN_FILENO, 1);
	if (rc == 0) {
		f->in.h.data = &f->up;
		f->open_handles++;
		rc = open_std(loop, &f->out, STDOUT_FILENO, 0);
		if (rc == 0) {
			f->out.h.data = &f->up;
			f->open_handles++;
		}
	}
	if (rc != 0) {
		log_error("-W: stdin and stdout must be pipes, sockets or a terminal error=%s",
			  log_q(uv_strerror(rc)));
		f->finished = 1;
		fwd_stdio_close(f);
		return NULL;
	}
	copy_resume(&f->up);
	copy_resume(&f->down);
	return f;
}

void fwd_stdio_close(struct fwd_stdio *f)
{
	if (f == NULL || f->closing)
		return;
	f->closing = 1;
	f->finished = 1;
	union stream *s[] = {&f->sock, &f->in, &f->out};
	for (size_t i = 0; i < 3; i++)
		if (s[i]->h.data != NULL && !uv_is_closing(&s[i]->h))
			uv_close(&s[i]->h, on_handle_closed);
}
