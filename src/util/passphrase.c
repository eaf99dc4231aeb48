/* SPDX-License-Identifier: MIT */
/*
 * passphrase: reading a passphrase from a file, a variable, an askpass
 * program or the terminal. Owns the terminal handling (echo off, restored
 * even on error) and the askpass child (no shell: the program is run
 * directly with the prompt as its only argument). Every buffer that held
 * a passphrase is wiped.
 */
#include "util/passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "crypto/crypto.h"

static struct pass_source dflt;

void pass_set_default(const struct pass_source *src)
{
	if (src != NULL)
		dflt = *src;
}

const struct pass_source *pass_default(void)
{
	return &dflt;
}

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char *err, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, PASS_ERR_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

/* Up to the first newline; a passphrase that fills the buffer is refused, not cut. */
static int read_line_fd(int fd, char out[PASS_MAX])
{
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		if (n + 1 >= PASS_MAX) {
			crypto_wipe(out, PASS_MAX);
			return -1;
		}
		out[n++] = c;
	}
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return 0;
}

static int from_file(const char *path, char out[PASS_MAX], char *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(err, "passphrase file %s: %s", path, strerror(errno));
	int rc = read_line_fd(fd, out);
	close(fd);
	if (rc != 0)
		return fail(err, "passphrase file %s: longer than %d bytes", path, PASS_MAX - 1);
	return 0;
}

static int from_askpass(const char *prog, const char *prompt, char out[PASS_MAX], char *err)
{
	int fds[2], status = 0;
	if (pipe(fds) != 0)
		return fail(err, "askpass: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return fail(err, "askpass: %s", strerror(errno));
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execlp(prog, prog, prompt, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	int rc = read_line_fd(fds[0], out);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		crypto_wipe(out, PASS_MAX);
		return fail(err, "askpass program %s failed (exit %d): no passphrase", prog,
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	if (rc != 0)
		return fail(err, "askpass program %s: passphrase longer than %d bytes", prog,
			    PASS_MAX - 1);
	return 0;
}

static int tty_ask(int fd, const char *prompt, char out[PASS_MAX])
{
	struct termios old, quiet;
	int restore = tcgetattr(fd, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* The prompt is a courtesy; the answer is what counts. */
	}
	int rc = read_line_fd(fd, out);
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	return rc;
}

static int from_tty(const char *prompt, int confirm, char out[PASS_MAX], char *err)
{
	char again[PASS_MAX];
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	int rc = -1;
	if (fd < 0)
		return fail(err, "no terminal to ask for the passphrase; give --passphrase-file, "
				 "--passphrase-env or --askpass (or set POSTERN_ASKPASS)");
	if (tty_ask(fd, prompt, out) != 0) {
		fail(err, "passphrase longer than %d bytes", PASS_MAX - 1);
		goto out;
	}
	if (confirm) {
		if (tty_ask(fd, "Same passphrase again: ", again) != 0 || strcmp(out, again) != 0) {
			crypto_wipe(out, PASS_MAX);
			fail(err, "the two passphrases differ");
			goto out;
		}
	}
	rc = 0;
out:
	crypto_wipe(again, sizeof(again));
	close(fd);
	return rc;
}

int pass_get(const struct pass_source *src, const char *prompt, int confirm, char out[PASS_MAX],
	     char *err)
{
	const struct pass_source none = {0};
	int rc;
	if (src == NULL)
		src = &none;
	out[0] = '\0';
	if (src->file != NULL) {
		rc = from_file(src->file, out, err);
	} else if (src->env != NULL) {
		const char *v = getenv(src->env);
		if (v == NULL)
			return fail(err, "passphrase variable %s is not set", src->env);
		if (strlen(v) >= PASS_MAX)
			return fail(err, "passphrase variable %s: longer than %d bytes", src->env,
				    PASS_MAX - 1);
		snprintf(out, PASS_MAX, "%s", v);
		rc = 0;
	} else if (src->askpass != NULL || getenv("POSTERN_ASKPASS") != NULL) {
		const char *prog = src->askpass != NULL ? src->askpass : getenv("POSTERN_ASKPASS");
		rc = from_askpass(prog, prompt, out, err);
	} else {
		rc = from_tty(prompt, confirm, out, err);
	}
	if (rc == 0 && out[0] == '\0') {
		crypto_wipe(out, PASS_MAX);
		return fail(err, "empty passphrase");
	}
	return rc;
}
