// SPDX-License-Identifier: MIT
/*
 * send_recv_loop: the loop a new user writes first, for `make bench`.
 *
 *   send_recv_loop ITERATIONS ROUNDS
 *
 * A PUSH/PULL pair over inproc, so that the calls, not the loopback
 * wake-ups (over 100 µs a message on this VM), are what is timed.  Each iteration is one blocking
 * zmq_send of an 85-byte frame and one blocking zmq_msg_recv of it.  Prints
 * READY {"pid": N}, waits for a line on stdin (so that an observer can attach
 * first), runs 2,000 untimed iterations, then ROUNDS timed ones of
 * ITERATIONS each, and prints
 *   RESULT {"ns_per_msg": [one figure per round]}
 * then closes its sockets and exits at the next line (or end of input).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int loop(void *push, void *pull, long n)
{
	static const char frame[85] = "\x85\xa4type\xaaKVAdmitMsg";
	zmq_msg_t msg;

	zmq_msg_init(&msg);
	for (long i = 0; i < n; i++) {
		if (zmq_send(push, frame, sizeof(frame), 0) != (int)sizeof(frame) ||
		    zmq_msg_recv(&msg, pull, 0) != (int)sizeof(frame)) {
			fprintf(stderr, "send_recv_loop: %s\n", zmq_strerror(zmq_errno()));
			return -1;
		}
	}
	zmq_msg_close(&msg);
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	int rounds = argc > 2 ? atoi(argv[2]) : 5, rc = 1;
	void *ctx = zmq_ctx_new(), *push = zmq_socket(ctx, ZMQ_PUSH), *pull = zmq_socket(ctx, ZMQ_PULL);
	char ep[256], line[16];
	size_t len = sizeof(ep);

	if (n <= 0 || rounds <= 0 || rounds > 100) {
		fprintf(stderr, "usage: send_recv_loop ITERATIONS ROUNDS (1-100)\n");
		goto cleanup;
	}
	if (zmq_bind(pull, "inproc://loop") || zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, ep, &len) ||
	    zmq_connect(push, ep)) {
		fprintf(stderr, "send_recv_loop: %s\n", zmq_strerror(zmq_errno()));
		goto cleanup;
	}
	printf("READY {\"pid\": %d}\n", (int)getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin) || loop(push, pull, 2000))
		goto cleanup;
	printf("RESULT {\"ns_per_msg\": [");
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();

		if (loop(push, pull, n))
			goto cleanup;
		printf("%s%.1f", r ? ", " : "", (now_ns() - t0) / (double)n);
	}
	printf("]}\n");
	fflush(stdout);
	/* Open until told: a closed socket's series go, and the observer counts them first. */
	fgets(line, sizeof(line), stdin);
	rc = 0;
cleanup:
	zmq_close(push);
	zmq_close(pull);
	zmq_ctx_term(ctx);
	return rc;
}
