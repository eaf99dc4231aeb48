/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the admit grammar and the /proc/PID/stat reader.
 * The input is a policy; a parse that succeeds must give a canonical text
 * that is printable, parses again to the same policy (a fixed point), and
 * holds only known terms. The same bytes are also read as a stat line,
 * which must never read past them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/admit.h"

static void check_policy(const struct admit_policy *p)
{
	size_t len = strnlen(p->text, sizeof(p->text));
	if (len == 0 || len == sizeof(p->text))
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p->text[i] < 0x20 || (unsigned char)p->text[i] >= 0x7f)
			abort();
	if (p->terms & ~(unsigned)(ADMIT_ANY | ADMIT_LOOPBACK | ADMIT_SAME_USER | ADMIT_UID |
				   ADMIT_EXE | ADMIT_TREE | ADMIT_ASK))
		abort();
	if ((p->terms & ADMIT_ANY) && p->terms != ADMIT_ANY)
		abort();
	if (p->nuids > ADMIT_MAX_UIDS || p->nexes > ADMIT_MAX_EXES)
		abort();
	if (!!(p->terms & ADMIT_UID) != (p->nuids > 0) ||
	    !!(p->terms & ADMIT_EXE) != (p->nexes > 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	struct admit_policy p, again;
	char err[ADMIT_ERR_MAX];
	if (admit_parse(s, &p, err) == 0) {
		check_policy(&p);
		if (admit_parse(p.text, &again, err) != 0 || strcmp(again.text, p.text) != 0 ||
		    again.terms != p.terms)
			abort();
	} else if (strnlen(err, sizeof(err)) == 0 || strncmp(err, "admit: ", 7) != 0) {
		abort();
	}
	pid_t ppid;
	unsigned long long start;
	(void)admit_proc_stat(s, &ppid, &start);
	free(s);
	return 0;
}
