/* SPDX-License-Identifier: MIT */
/*
 * log: one line per event, to stderr (default) or syslog. Stable format on
 * stderr: "YYYY-mm-ddTHH:MM:SS.mmmZ LEVEL message". Log once, where the error
 * is detected. Never pass key material.
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

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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

/* log_peer(level, fmt, ...): log_msg() through the process's peer-line limiter. */
void log_peer(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_LVL_DEBUG))                                                    \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
