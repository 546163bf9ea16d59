// SPDX-License-Identifier: MIT
/*
 * What the LMCache model costs: memory per million keys (the model's own
 * memory_bytes and the process's RSS growth) and CPU per decoded message,
 * for BatchedKVOperationMsg of 1, 100 and 10,000 operations and for a
 * FullSyncBatchMsg of 1,000 keys.  Payloads are encoded before the clock
 * starts, as msgspec encodes them; keys are random 64-bit values, as
 * LMCache's chunk hashes are.  `make bench-model` runs it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "lmcache_messages.h"
#include "lmcache_model.h"

#define INSTANCE "bench-instance"
#define LOCATION "LocalCPUBackend"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_key(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void die(const char *what)
{
	fprintf(stderr, "lmcache_model_bench: %s failed\n", what);
	exit(1);
}

static void pk_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void begin(msgpack_sbuffer *sb, msgpack_packer *pk, const char *type, uint32_t n)
{
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(pk, n + 1);
	pk_str(pk, "type");
	pk_str(pk, type);
	pk_str(pk, "instance_id");
	pk_str(pk, INSTANCE);
	pk_str(pk, "worker_id");
	msgpack_pack_int(pk, 0);
}

/* BatchedKVOperationMsg: n ops of one kind on keys[], seq numbers from seq. */
static msgpack_sbuffer kv_batch(const uint64_t *keys, size_t n, bool evict, uint64_t seq)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	begin(&sb, &pk, "BatchedKVOperationMsg", 4);
	pk_str(&pk, "location");
	pk_str(&pk, LOCATION);
	pk_str(&pk, "operations");
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_map(&pk, 3);
		pk_str(&pk, "op_type");
		pk_str(&pk, evict ? "evict" : "admit");
		pk_str(&pk, "key");
		msgpack_pack_uint64(&pk, keys[i]);
		pk_str(&pk, "seq_num");
		msgpack_pack_uint64(&pk, seq + i);
	}
	return sb;
}

static msgpack_sbuffer sync_batch(const uint64_t *keys, size_t n, int64_t batch_id)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	begin(&sb, &pk, "FullSyncBatchMsg", 6);
	pk_str(&pk, "location");
	pk_str(&pk, LOCATION);
	pk_str(&pk, "sync_id");
	pk_str(&pk, "bench-sync");
	pk_str(&pk, "batch_id");
	msgpack_pack_int64(&pk, batch_id);
	pk_str(&pk, "keys");
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++)
		msgpack_pack_uint64(&pk, keys[i]);
	return sb;
}

static void feed(struct lmc_model *m, enum lmc_channel ch, const msgpack_sbuffer *sb)
{
	if (lmc_model_feed(m, ch, sb->data, sb->size) != LMC_APPLIED)
		die("feed");
}

static void feed_register(struct lmc_model *m)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	begin(&sb, &pk, "RegisterMsg", 5);
	pk_str(&pk, "ip");
	pk_str(&pk, "127.0.0.1");
	pk_str(&pk, "port");
	msgpack_pack_int(&pk, 9000);
	pk_str(&pk, "peer_init_url");
	msgpack_pack_nil(&pk);
	feed(m, LMC_REQUEST, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static void feed_sync_start(struct lmc_model *m, int64_t batches)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	begin(&sb, &pk, "FullSyncStartMsg", 6);
	pk_str(&pk, "location");
	pk_str(&pk, LOCATION);
	pk_str(&pk, "sync_id");
	pk_str(&pk, "bench-sync");
	pk_str(&pk, "total_keys");
	msgpack_pack_int64(&pk, batches * 1000);
	pk_str(&pk, "batch_count");
	msgpack_pack_int64(&pk, batches);
	feed(m, LMC_REQUEST, &sb);
	msgpack_sbuffer_destroy(&sb);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	pk_str(&pk, "type");
	pk_str(&pk, "FullSyncStartRetMsg");
	pk_str(&pk, "sync_id");
	pk_str(&pk, "bench-sync");
	pk_str(&pk, "accepted");
	msgpack_pack_true(&pk);
	pk_str(&pk, "error_msg");
	msgpack_pack_nil(&pk);
	feed(m, LMC_REPLY_OUT, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long rss_bytes(void)
{
	long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || fscanf(f, "%*d %ld", &pages) != 1)
		die("reading /proc/self/statm");
	fclose(f);
	return pages * sysconf(_SC_PAGESIZE);
}

static uint64_t *random_keys(size_t n)
{
	uint64_t *k = malloc(n * sizeof(*k));

	if (!k)
		die("malloc");
	for (size_t i = 0; i < n; i++)
		k[i] = next_key();
	return k;
}

/* 1,000,000 distinct keys admitted in 100 batches of 10,000. */
static void memory_per_million(void)
{
	enum { N = 1000000, PER = 10000 };
	uint64_t *keys = random_keys(N);
	msgpack_sbuffer *batches = calloc(N / PER, sizeof(*batches));
	struct lmc_model *m = lmc_model_new(2 * N, true);
	struct lmc_gauges g0, g1;
	long rss0, rss1;

	if (!batches || !m)
		die("setup");
	for (size_t b = 0; b < N / PER; b++)
		batches[b] = kv_batch(keys + b * PER, PER, false, b * PER);
	/* Let the decoder's zone grow to these payloads first: a batch for a
	 * worker not registered yet changes nothing else. */
	feed(m, LMC_PULL, &batches[0]);
	feed_register(m);
	lmc_model_gauges(m, &g0);
	rss0 = rss_bytes();
	for (size_t b = 0; b < N / PER; b++)
		feed(m, LMC_PULL, &batches[b]);
	rss1 = rss_bytes();
	lmc_model_gauges(m, &g1);
	if (g1.kv_pool_keys != N || g1.kv_op_seq_discontinuity != 0)
		die("the key count");
	printf("| memory per 1,000,000 keys (model memory_bytes) | %.2f MiB (%.1f bytes/key) |\n",
	       (double)(g1.memory_bytes - g0.memory_bytes) / 1048576.0,
	       (double)(g1.memory_bytes - g0.memory_bytes) / N);
	printf("| memory per 1,000,000 keys (process RSS growth) | %.2f MiB |\n",
	       (double)(rss1 - rss0) / 1048576.0);
	for (size_t b = 0; b < N / PER; b++)
		msgpack_sbuffer_destroy(&batches[b]);
	free(batches);
	free(keys);
	lmc_model_free(m);
}

/* Steady state: the same n keys admitted then evicted, so every message
 * changes the set.  `distinct` payload pairs (seq numbers running on) are
 * cycled `cycles` times, a working set that stays in cache as a payload
 * just copied out of the ring buffer would; each wrap is one seq gap. */
static void cpu_kv_batch(size_t n, size_t distinct, size_t cycles)
{
	uint64_t *keys = random_keys(n);
	struct lmc_model *m = lmc_model_new(2 * n + 16, true);
	msgpack_sbuffer *msgs = calloc(2 * distinct, sizeof(*msgs));
	size_t count = 2 * distinct * cycles;
	msgpack_zone z;
	double t0, t1, t2;
	struct lmc_gauges g;
	uint64_t seq = 0;

	if (!m || !msgs)
		die("setup");
	for (size_t r = 0; r < 2 * distinct; r++, seq += n)
		msgs[r] = kv_batch(keys, n, r % 2, seq);
	if (!msgpack_zone_init(&z, 8 * msgs[0].size > 65536 ? 8 * msgs[0].size : 65536))
		die("setup");
	feed(m, LMC_PULL, &msgs[0]); /* the zone's growth, before the clock */
	feed_register(m);
	t0 = cpu_ns();
	for (size_t c = 0; c < cycles; c++)
		for (size_t r = 0; r < 2 * distinct; r++)
			feed(m, LMC_PULL, &msgs[r]);
	t1 = cpu_ns();
	for (size_t c = 0; c < cycles; c++)
		for (size_t r = 0; r < 2 * distinct; r++) {
			struct lmc_msg msg;

			if (lmc_msg_decode(&z, msgs[r].data, msgs[r].size, &msg))
				die("decode");
			msgpack_zone_clear(&z);
		}
	t2 = cpu_ns();
	lmc_model_gauges(m, &g);
	if (g.kv_pool_keys != 0 || g.kv_op_seq_discontinuity != cycles - 1)
		die("the steady state");
	printf("| BatchedKVOperationMsg, %zu op%s (%zu bytes) | %.0f ns/message (%.1f ns/op), "
	       "decoding %.0f ns of it |\n",
	       n, n == 1 ? "" : "s", msgs[0].size, (t1 - t0) / (double)count,
	       (t1 - t0) / ((double)count * n), (t2 - t1) / (double)count);
	for (size_t r = 0; r < 2 * distinct; r++)
		msgpack_sbuffer_destroy(&msgs[r]);
	free(msgs);
	free(keys);
	msgpack_zone_destroy(&z);
	lmc_model_free(m);
}

/* 1,000 batches of 1,000 new keys each, into one syncing location. */
static void cpu_sync_batch(void)
{
	enum { BATCHES = 1000, PER = 1000 };
	uint64_t *keys = random_keys((size_t)BATCHES * PER);
	msgpack_sbuffer *msgs = calloc(BATCHES, sizeof(*msgs));
	struct lmc_model *m = lmc_model_new((size_t)BATCHES * PER, true);
	struct lmc_gauges g;
	double t0, t1;

	if (!m || !msgs)
		die("setup");
	for (size_t b = 0; b < BATCHES; b++)
		msgs[b] = sync_batch(keys + b * PER, PER, (int64_t)b);
	feed_register(m);
	feed_sync_start(m, BATCHES);
	t0 = cpu_ns();
	for (size_t b = 0; b < BATCHES; b++)
		feed(m, LMC_PULL, &msgs[b]);
	t1 = cpu_ns();
	lmc_model_gauges(m, &g);
	if (g.kv_pool_keys != (uint64_t)BATCHES * PER || g.full_sync_missing_batches != 0)
		die("the sync");
	printf("| FullSyncBatchMsg, 1,000 keys (%zu bytes) | %.0f ns/message (%.1f ns/key) |\n",
	       msgs[0].size, (t1 - t0) / BATCHES, (t1 - t0) / ((double)BATCHES * PER));
	for (size_t b = 0; b < BATCHES; b++)
		msgpack_sbuffer_destroy(&msgs[b]);
	free(msgs);
	free(keys);
	lmc_model_free(m);
}

int main(void)
{
	printf("## LMCache model (bench/lmcache_model_bench.c)\n\n");
	printf("| measure | value |\n|---|---|\n");
	memory_per_million();
	cpu_kv_batch(1, 1000, 200);
	cpu_kv_batch(100, 100, 50);
	cpu_kv_batch(10000, 1, 50);
	cpu_sync_batch();
	printf("\nCPU is process CPU time over the whole run, payloads encoded beforehand.\n");
	return 0;
}
