// SPDX-License-Identifier: MIT
/*
 * zmqscope: ZeroMQ socket metrics from outside the process.
 * See README.md and docs/ for what each command does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "options.h"

void zs_error(const char *fmt, ...)
{
	va_list ap;

	fputs("zmqscope: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	static struct zs_options opts;
	char err[512];
	int rc;

	rc = options_parse(argc, argv, &opts, err, sizeof(err));
	if (rc == 1)
		return 0;
	if (rc) {
		zs_error("%s", err);
		return EXIT_USAGE;
	}
	switch (opts.cmd) {
	case ZS_CMD_RUN:
		rc = cmd_run(&opts);
		break;
	case ZS_CMD_START:
		rc = cmd_start(&opts);
		break;
	case ZS_CMD_STOP:
		rc = cmd_stop(&opts);
		break;
	case ZS_CMD_STATUS:
		rc = cmd_status(&opts);
		break;
	case ZS_CMD_LIST:
		rc = cmd_list(&opts);
		break;
	case ZS_CMD_TOP:
		rc = cmd_top(&opts);
		break;
	default:
		rc = EXIT_USAGE;
	}
	options_free(&opts);
	return rc;
}
