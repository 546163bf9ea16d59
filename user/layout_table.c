// SPDX-License-Identifier: MIT
#include "zmq_layout.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static const struct {
	struct zmq_version from, to;
	struct zmq_layout layout;
} known[] = {
	/* Debian 12's libzmq5 4.3.4, measured by calibration. */
	{ { 4, 3, 4 }, { 4, 3, 4 }, { 332, 1560, 1664 } },
	/* vcpkg and cmake 4.3.5, and master (4.3.6), -fcf-protection=full: design.md section 8. */
	{ { 4, 3, 5 }, { 4, 3, 6 }, { 332, 1624, 1728 } },
	/* The type offsets below are those recorded in design.md section 2. */
	{ { 4, 3, 0 }, { 4, 3, 3 }, { 328, -1, -1 } },
	{ { 4, 2, 0 }, { 4, 2, 99 }, { 328, -1, -1 } },
};

static int version_cmp(const struct zmq_version *a, const struct zmq_version *b)
{
	if (a->major != b->major)
		return a->major - b->major;
	if (a->minor != b->minor)
		return a->minor - b->minor;
	return a->patch - b->patch;
}

int zmq_layout_lookup(const struct zmq_version *v, struct zmq_layout *out)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (version_cmp(v, &known[i].from) >= 0 && version_cmp(v, &known[i].to) <= 0) {
			*out = known[i].layout;
			return 0;
		}
	}
	*out = ZMQ_LAYOUT_UNKNOWN;
	return -ENOENT;
}

int32_t zmq_layout_known_type_offset(size_t i)
{
	int32_t seen[sizeof(known) / sizeof(known[0])];
	size_t n = 0;

	/* Distinct offsets, in table order. */
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
		bool dup = false;

		for (size_t j = 0; j < n; j++)
			dup |= seen[j] == known[k].layout.type_off;
		if (!dup)
			seen[n++] = known[k].layout.type_off;
	}
	return i < n ? seen[i] : -1;
}

int zmq_version_from_code(const uint8_t *code, size_t len, struct zmq_version *out)
{
	static const uint8_t endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	/* ModRM bytes of (%rdi), (%rsi), (%rdx) with /0: mod=00, reg=0. */
	static const uint8_t rm_for[3] = { 0x07, 0x06, 0x02 };
	int32_t vals[3];
	bool seen[3] = { false, false, false };
	size_t at = 0;

	if (len >= sizeof(endbr64) && !memcmp(code, endbr64, sizeof(endbr64)))
		at = sizeof(endbr64);
	for (int n = 0; n < 3; n++, at += 6) {
		int which = -1;

		if (at + 6 > len || code[at] != 0xc7)
			return -ENOENT;
		for (int r = 0; r < 3; r++)
			if (code[at + 1] == rm_for[r])
				which = r;
		if (which < 0 || seen[which])
			return -ENOENT;
		seen[which] = true;
		memcpy(&vals[which], code + at + 2, sizeof(int32_t));
	}
	if (vals[0] < 1 || vals[0] > 9 || vals[1] < 0 || vals[1] > 99 || vals[2] < 0 || vals[2] > 99)
		return -ENOENT;
	*out = (struct zmq_version){ vals[0], vals[1], vals[2] };
	return 0;
}
