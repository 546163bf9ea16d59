// SPDX-License-Identifier: MIT
/*
 * The host-wide cost of the wire layer's tracepoints: a process that is
 * not a target making read and write syscalls, timed per syscall.
 *
 *   syscall_loop N      # N writes to /dev/null and N reads from /dev/zero
 *
 * Prints `NS_PER_SYSCALL x.xx`.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	int out = open("/dev/null", O_WRONLY), in = open("/dev/zero", O_RDONLY);
	struct timespec a, b;
	char c = 0;

	if (n <= 0 || out < 0 || in < 0) {
		fprintf(stderr, "syscall_loop: usage: syscall_loop N (N > 0)\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		if (write(out, &c, 1) != 1 || read(in, &c, 1) != 1)
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("NS_PER_SYSCALL %.2f\n",
	       ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (2.0 * n));
	return 0;
}
