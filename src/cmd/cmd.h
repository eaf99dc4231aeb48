/* SPDX-License-Identifier: MIT */
/* cmd: the subcommands main() dispatches to. Each returns the exit status. */
#ifndef POSTERN_CMD_H
#define POSTERN_CMD_H

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

int cmd_server(int argc, char **argv);
int cmd_client(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_pubkey(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_access(int argc, char **argv);
int cmd_settings(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_fwlist(int argc, char **argv);
int cmd_knock(int argc, char **argv);

/* cmd_parse_uint(s, min, max, out): strict decimal; 0 or -1. */
int cmd_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);

/* cmd_now_ms(): wall-clock Unix time in milliseconds (handshake timestamps). */
unsigned long long cmd_now_ms(void);

#endif
