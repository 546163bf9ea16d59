#!/usr/bin/python3
"""Runs zmqscope's integration tests, as root, against real BPF.

    run.py [--build DIR] [-k SUBSTRING]...

Each test starts every process it needs and stops them again.  The last
line is `N passed, N failed`; the exit status is 1 if any test failed.
"""

import argparse
import importlib
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MODULES = ["test_core", "test_bad_input", "test_types", "test_lifecycle",
           "test_lmcache_state", "test_toolbox", "test_http_hardening", "test_hardening",
           "test_calibration", "test_wire", "test_loops", "test_wire_programs", "test_faults"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                                   "build"))
    p.add_argument("-k", action="append", default=[], help="run tests whose name has this")
    args = p.parse_args()
    os.environ["ZS_BUILD"] = os.path.abspath(args.build)
    # A private runtime dir keeps the tests' instances apart from any real ones.
    os.environ.setdefault("ZMQSCOPE_RUNTIME_DIR", "/run/zmqscope-tests")

    if os.geteuid() != 0:
        print("integration tests need root (BPF and uprobes): run 'sudo make test'",
              file=sys.stderr)
        return 1

    import harness
    tests = []
    for name in MODULES:
        mod = importlib.import_module(name)
        tests += [(f"{name}.{t.__name__}", t) for t in mod.TESTS]
    if args.k:
        tests = [(n, t) for n, t in tests if any(k in n for k in args.k)]

    passed = failed = 0
    started = time.monotonic()
    for name, test in tests:
        t0 = time.monotonic()
        try:
            test()
        except harness.TestFailure as e:
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - t0:.1f}s): {e}", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - t0:.1f}s): unexpected error", flush=True)
            traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {name} ({time.monotonic() - t0:.1f}s)", flush=True)
    print(f"integration tests took {time.monotonic() - started:.0f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
