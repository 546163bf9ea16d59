#!/usr/bin/python3
"""Runs tests/fixtures/load.py unchanged, and says when it sent.

    timed_load.py LOAD.PY-OPTIONS...

load.py reads time.perf_counter() twice: just before its client threads
start, and once they have all finished (for a PUSH, when ctx.term() has
handed every queued message to the kernel).  This wrapper records both
readings and, after load.py's own LOAD line, prints

    TIMES {"start": S, "end": E}

perf_counter() is CLOCK_MONOTONIC, so S and E compare directly with the
caller's own time.perf_counter().  The exit status is load.py's.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "fixtures"))
import load  # noqa: E402


class RecordingClock:
    """Stands in for load.py's `time` module; remembers perf_counter() readings."""

    def __init__(self):
        self.readings = []

    def perf_counter(self):
        t = time.perf_counter()
        self.readings.append(t)
        return t

    def __getattr__(self, name):
        return getattr(time, name)


def main():
    clock = RecordingClock()
    load.time = clock
    sys.argv = ["load.py", *sys.argv[1:]]
    rc = load.main()
    if len(clock.readings) != 2:
        print(f"timed_load: expected 2 perf_counter() readings, got {len(clock.readings)}",
              file=sys.stderr)
        return 1
    print("TIMES " + json.dumps({"start": clock.readings[0], "end": clock.readings[1]}),
          flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
