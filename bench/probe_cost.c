// SPDX-License-Identifier: MIT
/*
 * probe_cost: what one libzmq call costs, for the per-hit part of `make bench`.
 *
 *   probe_cost [ITERATIONS]        (default 20000)
 *
 * Sets up an inproc PUSH/PULL pair, prints READY {"pid": N} and then waits
 * for one line on stdin, so that probes can be attached to it first (from a
 * shell: `mkfifo go; probe_cost < go & ...attach...; echo > go`).  Then it
 * times every call, with clock_gettime(CLOCK_MONOTONIC) around it:
 *
 *   zmq_msg_send    PUSH, one 85-byte msgpack LMCache-style message
 *   zmq_msg_recv    PULL, receives that message (send one, receive one)
 *   zmq_getsockopt  ZMQ_EVENTS on the (empty) PULL socket
 *
 * ITERATIONS of each, after 1,000 untimed warm-up iterations (so per-socket
 * and per-thread state that probes create on a first hit is already there).
 * The payload is an 85-byte msgpack map with "type" first, like LMCache's
 * KVAdmitMsg, so a probe that decodes message types does its real work.
 *
 * Prints one line and exits 0:
 *   RESULT {"iterations": N, "clock_ns": C, "calls": {FUNC: {"mean_ns",
 *           "median_ns", "p10_ns", "p90_ns"}, ...}}
 * Times are per call with the clock's own cost C (median of back-to-back
 * reads) already subtracted.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#define WARMUP 1000

/* msgpack {"type": "KVAdmitMsg", "instance_id": "inst-1", "worker_id": 3,
 *          "location": "LocalCPUBackend", "key": 1234567890123456789} */
static const unsigned char payload[] = {
	0x85, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xaa, 0x4b, 0x56, 0x41, 0x64, 0x6d, 0x69, 0x74,
	0x4d, 0x73, 0x67, 0xab, 0x69, 0x6e, 0x73, 0x74, 0x61, 0x6e, 0x63, 0x65, 0x5f, 0x69,
	0x64, 0xa6, 0x69, 0x6e, 0x73, 0x74, 0x2d, 0x31, 0xa9, 0x77, 0x6f, 0x72, 0x6b, 0x65,
	0x72, 0x5f, 0x69, 0x64, 0x03, 0xa8, 0x6c, 0x6f, 0x63, 0x61, 0x74, 0x69, 0x6f, 0x6e,
	0xaf, 0x4c, 0x6f, 0x63, 0x61, 0x6c, 0x43, 0x50, 0x55, 0x42, 0x61, 0x63, 0x6b, 0x65,
	0x6e, 0x64, 0xa3, 0x6b, 0x65, 0x79, 0xcf, 0x11, 0x22, 0x10, 0xf4, 0x7d, 0xe9, 0x81,
	0x15,
};

enum { F_SEND, F_RECV, F_GETSOCKOPT, F_COUNT };
static const char *const names[F_COUNT] = { "zmq_msg_send", "zmq_msg_recv", "zmq_getsockopt" };

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void die(const char *what)
{
	fprintf(stderr, "probe_cost: %s: %s\n", what, zmq_strerror(errno));
	exit(1);
}

/* One send and one receive; with `t` non-NULL, each call's duration. */
static void send_recv(void *push, void *pull, uint64_t *t_send, uint64_t *t_recv)
{
	zmq_msg_t out, in;
	uint64_t t0, t1, t2;

	if (zmq_msg_init_size(&out, sizeof(payload)) != 0)
		die("zmq_msg_init_size");
	memcpy(zmq_msg_data(&out), payload, sizeof(payload));
	zmq_msg_init(&in);
	t0 = now_ns();
	if (zmq_msg_send(&out, push, 0) != (int)sizeof(payload))
		die("zmq_msg_send");
	t1 = now_ns();
	if (zmq_msg_recv(&in, pull, 0) != (int)sizeof(payload))
		die("zmq_msg_recv");
	t2 = now_ns();
	zmq_msg_close(&in);
	if (t_send) {
		*t_send = t1 - t0;
		*t_recv = t2 - t1;
	}
}

static uint64_t events(void *sock)
{
	int ev = 0;
	size_t len = sizeof(ev);
	uint64_t t0 = now_ns();

	if (zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &len) != 0)
		die("zmq_getsockopt");
	return now_ns() - t0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	uint64_t *t[F_COUNT], clock_ns;
	char line[64];

	if (n < 100 || n > 10000000) {
		fprintf(stderr, "usage: probe_cost [ITERATIONS >= 100]\n");
		return 2;
	}
	for (int f = 0; f < F_COUNT; f++) {
		t[f] = calloc((size_t)n, sizeof(uint64_t));
		if (!t[f])
			return 1;
	}
	void *ctx = zmq_ctx_new();
	void *push = zmq_socket(ctx, ZMQ_PUSH);
	void *pull = zmq_socket(ctx, ZMQ_PULL);

	if (!push || !pull || zmq_bind(pull, "inproc://probe_cost") != 0 ||
	    zmq_connect(push, "inproc://probe_cost") != 0)
		die("socket setup");

	printf("READY {\"pid\": %ld}\n", (long)getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;

	/* The clock's own cost: the median of back-to-back reads. */
	for (long i = 0; i < n; i++) {
		uint64_t a = now_ns();

		t[0][i] = now_ns() - a;
	}
	qsort(t[0], (size_t)n, sizeof(uint64_t), cmp_u64);
	clock_ns = t[0][n / 2];

	for (int i = 0; i < WARMUP; i++) {
		send_recv(push, pull, NULL, NULL);
		events(pull);
	}
	for (long i = 0; i < n; i++)
		send_recv(push, pull, &t[F_SEND][i], &t[F_RECV][i]);
	for (long i = 0; i < n; i++)
		t[F_GETSOCKOPT][i] = events(pull);

	printf("RESULT {\"iterations\": %ld, \"clock_ns\": %llu, \"calls\": {", n,
	       (unsigned long long)clock_ns);
	for (int f = 0; f < F_COUNT; f++) {
		uint64_t sum = 0;

		for (long i = 0; i < n; i++) {
			t[f][i] = t[f][i] > clock_ns ? t[f][i] - clock_ns : 0;
			sum += t[f][i];
		}
		qsort(t[f], (size_t)n, sizeof(uint64_t), cmp_u64);
		printf("%s\"%s\": {\"mean_ns\": %.1f, \"median_ns\": %llu, \"p10_ns\": %llu, "
		       "\"p90_ns\": %llu}",
		       f ? ", " : "", names[f], (double)sum / (double)n,
		       (unsigned long long)t[f][n / 2], (unsigned long long)t[f][n / 10],
		       (unsigned long long)t[f][n - n / 10 - 1]);
	}
	printf("}}\n");
	fflush(stdout);
	zmq_close(push);
	zmq_close(pull);
	zmq_ctx_term(ctx);
	return 0;
}
