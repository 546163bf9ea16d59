/* SPDX-License-Identifier: MIT */
/* One-line error messages handed up to the command that prints them. */
#ifndef ZS_ERRMSG_H
#define ZS_ERRMSG_H

#include <stddef.h>

/* Formats the message into err and returns rc, so a failure is one statement. */
__attribute__((format(printf, 4, 5))) int errmsg(char *err, size_t errlen, int rc,
						 const char *fmt, ...);

#endif
