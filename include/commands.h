/* SPDX-License-Identifier: MIT */
/* The subcommands.  Each returns the process exit code: 0, 1 runtime, 2 usage. */
#ifndef ZS_COMMANDS_H
#define ZS_COMMANDS_H

#include "options.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

int cmd_run(struct zs_options *o);
int cmd_start(struct zs_options *o);
int cmd_stop(struct zs_options *o);
int cmd_status(struct zs_options *o);
int cmd_list(struct zs_options *o);
int cmd_top(struct zs_options *o);

/* One line on stderr: "zmqscope: ..." */
__attribute__((format(printf, 1, 2))) void zs_error(const char *fmt, ...);

#endif
