// SPDX-License-Identifier: MIT
/*
 * Attaches the empty tp_btf programs of tp_floor.bpf.o to sys_enter and
 * sys_exit (or only those named), prints READY, and holds them until stdin
 * closes: what the tracepoints cost every syscall on the host before any
 * program does work.
 *
 *   tp_floor PATH/tp_floor.bpf.o [PROGRAM...]
 */
#include <bpf/libbpf.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool wanted(const char *name, int argc, char **argv)
{
	if (argc == 2)
		return true;
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	char c;

	if (argc < 2) {
		fprintf(stderr, "tp_floor: usage: tp_floor PATH/tp_floor.bpf.o [PROGRAM...]\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "tp_floor: cannot load %s (run as root)\n", argv[1]);
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (!wanted(bpf_program__name(prog), argc, argv))
			continue;
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "tp_floor: cannot attach %s\n", bpf_program__name(prog));
			return 1;
		}
	}
	printf("READY\n");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
