/* SPDX-License-Identifier: MIT */
/*
 * log: one line per event, to stderr (default) or syslog. Stable format
 * (man page, LOG FORMAT): on stderr
 *   "YYYY-mm-ddTHH:MM:SS.mmmZ LEVEL component: message key=value ..."
 * and in syslog "component: message key=value ..." at the level's priority.
 * The component is the module: the calling file's base name ("server",
 * "session"), or what the file #defines as LOG_COMPONENT before its first
 * #include. Messages are short fixed text; what varies goes in key=value
 * pairs after it, values through log_q() when they may hold spaces or come
 * from a peer. Log once, where the error is detected. Never pass key material.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* log_init(ident, level, use_syslog): set the program name, threshold and sink. */
void log_init(const char *ident, enum log_level level, int use_syslog);

/* log_set_level(level): change the threshold (e.g. -v/-q). */
void log_set_level(enum log_level level);

/* log_enabled(level): 1 if a message at ${level} would be written. */
int log_enabled(enum log_level level);

/*
 * log_printable(dst, src, len): copy ${len} bytes of peer-supplied text to
 * ${dst} (len + 1 bytes), replacing anything but printable ASCII with '?'.
 * Returns dst.
 */
char *log_printable(char *dst, const uint8_t *src, size_t len);

/*
 * log_q(s): ${s} as a key=value value: as it is if non-empty and free of
 * spaces, '"', '\\' and '=', else in double quotes with '"' and '\\'
 * escaped; bytes outside printable ASCII become '?' either way, so peer text
 * can go straight in. The result lives in a per-thread ring of LOG_Q_SLOTS
 * buffers (longer values are cut at LOG_Q_MAX - 3 bytes): use it only in the
 * arguments of one log call, at most LOG_Q_SLOTS times there.
 */
enum { LOG_Q_SLOTS = 8, LOG_Q_MAX = 512 };
const char *log_q(const char *s);

/* log_component(where): the component named by ${where}, a path ("src/cmd/server.c" gives
 * "server") or a bare name, into ${out} (size bytes). Returns out. */
char *log_component(const char *where, char *out, size_t size);

/* log_emit(where, level, fmt, ...): write one line for ${where} (see log_component). */
void log_emit(const char *where, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A rate limiter for lines a peer can cause (refused channels, failed
 * opens): at most ${rate} lines per second; the rest are counted, and the
 * first line allowed after them is preceded by one "N ... suppressed" line.
 * log_limit_allow(l, now_s) returns 1 if the caller may log now.
 */
struct log_limit {
	unsigned rate; /* lines per second; 0 = LOG_PEER_RATE_DEFAULT */
	uint64_t sec;
	unsigned n;
	unsigned long suppressed;
};
enum { LOG_PEER_RATE_DEFAULT = 20 };
int log_limit_allow(struct log_limit *l, uint64_t now_s);

/* log_set_peer_rate(per_sec): the log_rate setting, for log_peer(); 0 = the default. */
void log_set_peer_rate(unsigned per_sec);

/* log_emit_peer(where, level, fmt, ...): log_emit() through the process's peer-line limiter. */
void log_emit_peer(const char *where, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifndef LOG_COMPONENT
#define LOG_COMPONENT __FILE__
#endif

/* log_msg(level, fmt, ...), log_peer(level, fmt, ...): a line from this file's component. */
#define log_msg(...)   log_emit(LOG_COMPONENT, __VA_ARGS__)
#define log_peer(...)  log_emit_peer(LOG_COMPONENT, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_LVL_DEBUG))                                                    \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
