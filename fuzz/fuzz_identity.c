/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the identity file reader (identity_dir): whoever
 * can write one of these files is trusted, but a typo or a truncated copy
 * must still be a FILE:LINE error, never a crash. Each input is one file's
 * text, read as identity "fuzz" beside a [key] from a config; on success
 * the key checks run too (the server's conf_server_check path).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/server.h"
#include "util/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_server c;
	char err[CONFIG_ERR_MAX];
	config_server_defaults(&c);
	snprintf(c.identity_dir, sizeof(c.identity_dir), "%s", "/nonexistent/ids");
	if (config_add_key(&c, "other") == NULL)
		abort();
	int rc = conf_server_identity_text(&c, "fuzz", (const char *)data, size,
					   "/nonexistent/ids/fuzz", err);
	if (rc == 0) {
		if (c.nkeys != 2 || strcmp(c.keys[1].name, "fuzz") != 0)
			abort();
		(void)conf_server_check(&c, err);
	} else if (memchr(err, '\0', sizeof(err)) == NULL) {
		abort();
	}
	config_server_free(&c);
	return 0;
}
