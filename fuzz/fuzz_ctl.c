/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for ctl_parse(): every request line a control socket
 * peer sends goes through it (peers are checked first, but a confused or
 * hostile local tool must not crash the daemon). Beyond memory safety it
 * checks the parser's promises: an accepted request has a known verb, an
 * argument count in range, NUL-terminated printable words, and re-joining
 * the verb and its words parses to the same request; a refusal always
 * comes with a message.
 *
 * make fuzz-build && build/fuzz/fuzz_ctl fuzz/corpus/ctl
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/control.h"

static const char *const names[] = {"",	       "status", "metrics", "bans",  "unban",
				    "forward", "cancel", "reload",  "grants"};
_Static_assert(sizeof(names) / sizeof(names[0]) == CTL_GRANTS + 1, "a name per verb");

static void require(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request req, again;
	char err[160], line[CTL_LINE_MAX + 1];

	err[0] = 0;
	if (ctl_parse((const char *)data, size, &req, err, sizeof(err)) != 0) {
		require(err[0] != 0 && memchr(err, 0, sizeof(err)) != NULL);
		return 0;
	}
	require(req.verb >= CTL_STATUS && req.verb <= CTL_GRANTS);
	require(req.nargs >= 0 && req.nargs <= CTL_ARGS_MAX);
	size_t n = (size_t)snprintf(line, sizeof(line), "%s", names[req.verb]);
	for (int i = 0; i < req.nargs; i++) {
		size_t len = strnlen(req.args[i], CTL_WORD_MAX + 1);
		require(len >= 1 && len <= CTL_WORD_MAX);
		for (size_t j = 0; j < len; j++)
			require(req.args[i][j] > 0x20 && req.args[i][j] < 0x7f);
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", req.args[i]);
	}
	require(n == size && memcmp(line, data, size) == 0);
	require(ctl_parse(line, n, &again, err, sizeof(err)) == 0);
	require(again.verb == req.verb && again.nargs == req.nargs && again.json == req.json &&
		again.kernel == req.kernel);
	return 0;
}
