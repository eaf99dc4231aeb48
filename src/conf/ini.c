/* SPDX-License-Identifier: MIT */
/*
 * ini: the strict INI reader. inih splits "name = value" lines, but as built
 * by default (and by Debian) it does not pass line numbers to the handler,
 * joins indented lines onto the previous value, never reports sections that
 * hold no settings, ignores text after a section's ']', and reads lines
 * longer than its buffer as several lines. So we feed inih through our own
 * line reader (ini_parse_stream), which:
 *   - counts lines, so the handler knows where it is (inih counts the same
 *     way, one reader call per line, so its error line numbers agree);
 *   - strips leading blanks (no continuation lines) and comments (';' or '#'
 *     at the start of a line or after a blank);
 *   - parses [section] lines itself, strictly, and hands inih a blank line;
 *   - refuses NUL bytes and lines too long for inih's buffer;
 *   - stops the parse at the first error, so only the first is reported.
 * What the sections and names mean is the schema's (conf/server.c,
 * conf/client.c).
 */
#include "conf/ini.h"
#include "util/config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	INI_FILE_MAX = 1 << 20, /* a config file is small; bigger is a mistake */
	SEEN_MAX = 64,		/* distinct single-valued settings in one section */
	SEEN_KEY_MAX = 63,	/* longest setting name remembered */
	QUOTE_MAX = 64,		/* longest value quoted in a message */
	ECHO_NAME_MAX = 32,	/* longest unknown section type we repeat back */
};

/* A copy, not a pointer: inih reuses its line buffer for every line (16.1). */
struct seen {
	char key[SEEN_KEY_MAX + 1];
	int line;
};

struct ini {
	const struct ini_schema *schema;
	void *arg;
	const char *name; /* the file, for messages */
	char dir[CONFIG_PATH_MAX + 1];
	const char *text;
	size_t len, pos;
	int line;
	int err_line; /* first error's line, 0 if none or not tied to a line */
	int failed;
	int in_section;
	char err[CONFIG_ERR_MAX];
	struct seen seen[SEEN_MAX];
	size_t nseen;
};

void ini_fail(struct ini *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return;
	n = snprintf(p->err, sizeof(p->err), "%s:%d: ", p->name, p->line);
	if (n >= 0 && (size_t)n < sizeof(p->err)) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, sizeof(p->err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	p->err_line = p->line;
	p->failed = 1;
}

int ini_line(const struct ini *in)
{
	return in->line;
}

const char *ini_dir(const struct ini *in)
{
	return in->dir;
}

int ini_once(struct ini *p, const char *key)
{
	size_t i;

	for (i = 0; i < p->nseen; i++) {
		if (strcmp(p->seen[i].key, key) == 0) {
			ini_fail(p, "%s set twice (first on line %d)", p->seen[i].key,
				 p->seen[i].line);
			return -1;
		}
	}
	if (p->nseen < SEEN_MAX) {
		snprintf(p->seen[p->nseen].key, sizeof(p->seen[0].key), "%s", key);
		p->seen[p->nseen].line = p->line;
		p->nseen++;
	}
	return 0;
}

static int enter_section(struct ini *p, const char *type, const char *name)
{
	int rc;

	p->nseen = 0;
	p->in_section = 0;
	rc = p->schema->section(p->arg, p, type, name);
	if (rc == 0) {
		p->in_section = 1;
		return 0;
	}
	if (rc > 0) {
		if (strlen(type) <= ECHO_NAME_MAX &&
		    strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(type))
			ini_fail(p, "unknown section [%s] (expected %s)", type,
				 p->schema->sections);
		else
			ini_fail(p, "unknown section (expected %s)", p->schema->sections);
	}
	return -1;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Value safety: a pasted key line must never come back out in a message. */
static int looks_like_key(const char *value)
{
	return strstr(value, "postern-psk") != NULL || strstr(value, "postern-x25519-v1") != NULL ||
	       strstr(value, "postern-enc-v1") != NULL;
}

/* "[type]" or "[type name]", blanks allowed around both words. */
static int section_line(struct ini *p, const char *line, size_t len)
{
	char inner[CONFIG_NAME_MAX + 64];
	const char *close = memchr(line, ']', len);
	char *type, *name, *end;
	size_t n;

	if (!close) {
		ini_fail(p, "syntax error (missing ']')");
		return -1;
	}
	/* Blank-led comments are gone already; "[server]# note" is one too. */
	if ((size_t)(close - line) + 1 != len && close[1] != ';' && close[1] != '#') {
		ini_fail(p, "unexpected text after ']'");
		return -1;
	}
	n = (size_t)(close - line) - 1;
	if (n >= sizeof(inner)) {
		ini_fail(p, "section header too long");
		return -1;
	}
	memcpy(inner, line + 1, n);
	inner[n] = '\0';
	if (looks_like_key(inner)) {
		ini_fail(p, "this line holds what looks like a key; keys belong in a key file");
		return -1;
	}
	for (type = inner; is_blank(*type); type++)
		;
	name = type + strcspn(type, " \t\r\f\v");
	if (*name)
		*name++ = '\0';
	while (is_blank(*name))
		name++;
	end = name + strlen(name);
	while (end > name && is_blank(end[-1]))
		*--end = '\0';
	return enter_section(p, type, name);
}

/* Where a comment starts: ';' or '#' first on the line or after a blank. */
static size_t strip_comment(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((s[i] == ';' || s[i] == '#') && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t'))
			return i;
	return len;
}

/* The ini_reader: hands inih one cleaned line per call (see the top of this file). */
static char *read_line(char *str, int num, void *stream)
{
	struct ini *p = stream;
	const char *line, *nl;
	size_t len;

	if (p->failed || p->pos >= p->len)
		return NULL;
	if (num < 3) {
		ini_fail(p, "line buffer too small");
		return NULL;
	}
	line = p->text + p->pos;
	nl = memchr(line, '\n', p->len - p->pos);
	len = nl ? (size_t)(nl - line) : p->len - p->pos;
	p->pos += len + (nl ? 1 : 0);
	p->line++;
	if (memchr(line, '\0', len)) {
		ini_fail(p, "NUL byte in line");
		return NULL;
	}
	if (p->line == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}
	while (len > 0 && is_blank(*line)) {
		line++;
		len--;
	}
	len = strip_comment(line, len);
	while (len > 0 && is_blank(line[len - 1]))
		len--;
	if (len > 0 && line[0] == '[') {
		if (section_line(p, line, len) < 0)
			return NULL;
		len = 0;
	}
	if (len + 2 > (size_t)num) {
		ini_fail(p, "line too long (max %d characters)", num - 2);
		return NULL;
	}
	memcpy(str, line, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static int on_setting(void *user, const char *section, const char *name, const char *value)
{
	struct ini *p = user;

	(void)section; /* tracked by read_line(), which sees empty sections too */
	if (p->failed)
		return 0;
	if (looks_like_key(name) || looks_like_key(value)) {
		ini_fail(p, "this line holds what looks like a key; keys belong in a key file");
		return 0;
	}
	if (!p->in_section) {
		ini_fail(p, "setting outside a section (start with %s)", p->schema->sections);
		return 0;
	}
	return p->schema->setting(p->arg, p, name, value) == 0;
}

static void set_dir(struct ini *p, const char *name)
{
	const char *slash = strrchr(name, '/');
	size_t n;

	p->dir[0] = '\0';
	if (!slash)
		return;
	n = slash == name ? 1 : (size_t)(slash - name);
	if (n > CONFIG_PATH_MAX)
		n = CONFIG_PATH_MAX;
	memcpy(p->dir, name, n);
	p->dir[n] = '\0';
}

int ini_load_text(const char *text, size_t len, const char *name, const struct ini_schema *schema,
		  void *arg, char *err)
{
	struct ini *p;
	int ret, rc;

	if (!schema || (!text && len)) {
		if (err)
			snprintf(err, CONFIG_ERR_MAX, "config: nothing to parse");
		return -1;
	}
	if (!name)
		name = "(config)";
	p = calloc(1, sizeof(*p));
	if (!p) {
		if (err)
			snprintf(err, CONFIG_ERR_MAX, "%s: out of memory", name);
		return -1;
	}
	p->schema = schema;
	p->in_section = schema->sectionless;
	p->arg = arg;
	p->name = name;
	p->text = text;
	p->len = len;
	set_dir(p, name);
	/* Merge inih's verdict (the first bad line) with ours. */
	ret = ini_parse_stream(read_line, p, on_setting, p);
	if (ret > 0 && (!p->failed || ret < p->err_line)) {
		snprintf(p->err, sizeof(p->err),
			 "%s:%d: syntax error (expected '[section]' or 'name = value')", p->name,
			 ret);
		p->failed = 1;
	} else if (ret < 0 && !p->failed) {
		snprintf(p->err, sizeof(p->err), "%s: cannot parse (out of memory)", p->name);
		p->failed = 1;
	}
	rc = p->failed ? -1 : 0;
	if (rc < 0 && err)
		snprintf(err, CONFIG_ERR_MAX, "%s", p->err);
	free(p);
	return rc;
}

int ini_read_file(const char *path, char **out, size_t *outlen, char *err)
{
	char q[QUOTE_MAX + 4];
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, CONFIG_ERR_MAX, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		ssize_t n;
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			if (cap > INI_FILE_MAX + 1)
				cap = INI_FILE_MAX + 1;
			if (len == cap) {
				snprintf(err, CONFIG_ERR_MAX, "%s: too large (max %d bytes)", path,
					 INI_FILE_MAX);
				goto out;
			}
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				snprintf(err, CONFIG_ERR_MAX, "%s: out of memory", path);
				goto out;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, CONFIG_ERR_MAX, "%s: %s", config_quote(q, QUOTE_MAX, path),
				 strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}
