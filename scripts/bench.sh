#!/bin/sh
# zmqscope's overhead benchmark: runs bench/run_bench.py (as root) against a
# build directory.  `make bench` and `make bench-churn` call this.
#
#   scripts/bench.sh [BUILD] [run_bench.py options...]
#
# BUILD defaults to build; the results land in bench/results/.
set -eu
cd "$(dirname "$0")/.."
BUILD=build
if [ $# -gt 0 ]; then
	BUILD=$1
	shift
fi
exec /usr/bin/python3 bench/run_bench.py --build "$BUILD" "$@"
