/* SPDX-License-Identifier: MIT */
/*
 * log: one line per event, "TIME LEVEL component: message key=value ...",
 * written with one write() to stderr (the format is documented in the man
 * page, LOG FORMAT). It owns the level filter, the UTC time stamp, the
 * component name, replacing control bytes so peer text cannot forge lines,
 * and log_q()/log_printable() for quoting untrusted bytes. `log = syslog`
 * sends "component: message ..." to syslog (facility daemon), without the
 * time (syslog adds its own) and with the level as the priority.
 */
#define LOG_COMPONENT "log"
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum {
	LOG_IDENT_MAX = 63,
	/*
	 * Lines stay below PIPE_BUF so one write() to a pipe is atomic and
	 * lines from several processes sharing stderr never interleave.
	 */
	LOG_LINE_MAX = 2048,
	LOG_STAMP_MAX = 32,
	LOG_COMPONENT_MAX = 24,
};

static struct {
	/* openlog() keeps the pointer, so the name must outlive the call. */
	char ident[LOG_IDENT_MAX + 1];
	enum log_level level;
	int use_syslog;
} log_state = {"postern", LOG_LVL_INFO, 0};

static const char *level_name(enum log_level level)
{
	switch (level) {
	case LOG_LVL_ERROR:
		return "ERROR";
	case LOG_LVL_WARN:
		return "WARN";
	case LOG_LVL_INFO:
		return "INFO";
	case LOG_LVL_DEBUG:
		return "DEBUG";
	}
	return "INFO";
}

static int syslog_priority(enum log_level level)
{
	switch (level) {
	case LOG_LVL_ERROR:
		return LOG_ERR;
	case LOG_LVL_WARN:
		return LOG_WARNING;
	case LOG_LVL_INFO:
		return LOG_INFO;
	case LOG_LVL_DEBUG:
		return LOG_DEBUG;
	}
	return LOG_INFO;
}

void log_init(const char *ident, enum log_level level, int use_syslog)
{
	int saved = errno;

	if (log_state.use_syslog)
		closelog();
	snprintf(log_state.ident, sizeof(log_state.ident), "%s", ident ? ident : "postern");
	log_state.level = level;
	log_state.use_syslog = use_syslog ? 1 : 0;
	if (log_state.use_syslog)
		openlog(log_state.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	errno = saved;
}

void log_set_level(enum log_level level)
{
	log_state.level = level;
}

int log_enabled(enum log_level level)
{
	return level <= log_state.level;
}

/* Messages may quote peer-supplied text; control bytes would let it forge lines. */
static void sanitize(char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			*s = '?';
	}
}

static void format_stamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char base[LOG_STAMP_MAX];

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || !gmtime_r(&ts.tv_sec, &tm) ||
	    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "0000-00-00T00:00:00.000Z");
		return;
	}
	snprintf(buf, len, "%s.%03ldZ", base, ts.tv_nsec / 1000000L);
}

static void write_stderr(enum log_level level, const char *component, const char *msg)
{
	char stamp[LOG_STAMP_MAX];
	char line[LOG_LINE_MAX];
	int n;

	format_stamp(stamp, sizeof(stamp));
	n = snprintf(line, sizeof(line), "%s %s %s: %s\n", stamp, level_name(level), component,
		     msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		/* Truncated: keep the line terminated so the next one starts cleanly. */
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	while (write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
		;
}

char *log_component(const char *where, char *out, size_t size)
{
	const char *base = where ? where : "postern";
	const char *slash = strrchr(base, '/');
	size_t n;

	if (slash)
		base = slash + 1;
	n = strcspn(base, ".");
	snprintf(out, size, "%.*s", (int)n, base);
	return out;
}

static void log_vemit(const char *where, enum log_level level, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	char component[LOG_COMPONENT_MAX];

	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	sanitize(msg);
	log_component(where, component, sizeof(component));
	if (log_state.use_syslog)
		syslog(syslog_priority(level), "%s: %s", component, msg);
	else
		write_stderr(level, component, msg);
}

void log_emit(const char *where, enum log_level level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (!log_enabled(level) || !fmt) {
		errno = saved;
		return;
	}
	va_start(ap, fmt);
	/* errno is restored first so %m in ${fmt} reports the caller's error. */
	errno = saved;
	log_vemit(where, level, fmt, ap);
	va_end(ap);
	errno = saved;
}

const char *log_q(const char *s)
{
	static _Thread_local char ring[LOG_Q_SLOTS][LOG_Q_MAX];
	static _Thread_local unsigned next;
	char *out = ring[next++ % LOG_Q_SLOTS];
	size_t n = 0;
	int quote;

	if (!s)
		s = "";
	quote = s[0] == '\0' || strpbrk(s, " \"\\=") != NULL;
	if (quote)
		out[n++] = '"';
	/* Room for an escape pair, the closing quote and the NUL. */
	for (; *s && n + 4 <= LOG_Q_MAX; s++) {
		unsigned char c = (unsigned char)*s;
		if (quote && (c == '"' || c == '\\'))
			out[n++] = '\\';
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (quote)
		out[n++] = '"';
	out[n] = '\0';
	return out;
}

int log_limit_allow(struct log_limit *l, uint64_t now_s)
{
	unsigned rate = l->rate ? l->rate : LOG_PEER_RATE_DEFAULT;
	if (now_s != l->sec) {
		l->sec = now_s;
		l->n = 0;
		if (l->suppressed > 0) {
			log_msg(LOG_LVL_WARN, "similar lines suppressed count=%lu log_rate=%u/s",
				l->suppressed, rate);
			l->suppressed = 0;
		}
	}
	if (l->n < rate) {
		l->n++;
		return 1;
	}
	l->suppressed++;
	return 0;
}

static struct log_limit peer_limit;

void log_set_peer_rate(unsigned per_sec)
{
	peer_limit.rate = per_sec;
}

void log_emit_peer(const char *where, enum log_level level, const char *fmt, ...)
{
	int saved = errno;
	struct timespec ts;
	if (!log_enabled(level) || !fmt)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!log_limit_allow(&peer_limit, (uint64_t)ts.tv_sec))
		goto out;
	va_list ap;
	va_start(ap, fmt);
	errno = saved;
	log_vemit(where, level, fmt, ap);
	va_end(ap);
out:
	errno = saved;
}

char *log_printable(char *dst, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[len] = 0;
	return dst;
}
