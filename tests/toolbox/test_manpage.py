#!/usr/bin/python3
"""zmqscope(8) against the program: every command and option its --help
prints, every metric family, exit code and capability in the source is in
the rendered page, and man renders it without a warning.

    test_manpage.py BUILD/zmqscope docs/zmqscope.8
"""

import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def render(page):
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                       env=env, timeout=60)
    return r.returncode, r.stdout, r.stderr


def help_text(binary, *args):
    r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        sys.exit(f"{binary} {' '.join(args)} --help exited {r.returncode}: {r.stderr}")
    return r.stdout


def commands(top_help):
    """The command names listed under "Commands:" in the top-level help."""
    block = top_help.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.strip()]


def options(help_out):
    """Every --long and -x option an argp help lists at the start of its entries."""
    found = set()
    for line in help_out.splitlines():
        m = re.match(r"^\s+((?:-\w, )?--[\w-]+|-\w)", line)
        if m:
            found.update(re.findall(r"--[\w-]+|(?<![\w-])-\w\b", m.group(1)))
    return found


def source_names(pattern):
    names = set()
    for path in glob.glob(os.path.join(ROOT, "user", "*.c")):
        with open(path) as f:
            names.update(re.findall(pattern, f.read()))
    return names


def has_token(text, token):
    return re.search(r"(?<![\w:-])" + re.escape(token) + r"(?![\w:-])", text) is not None


def main():
    binary, page = sys.argv[1], sys.argv[2]
    failures = []
    rc, text, err = render(page)
    if rc != 0 or err.strip():
        failures.append(f"man -l {page} exited {rc} with warnings: {err.strip()}")
    # The page turns hyphenation off: a name broken at the margin is not found.
    text = text.replace("\u2212", "-")

    top = help_text(binary)
    cmds = commands(top)
    if len(cmds) < 6:
        failures.append(f"expected the 6+ commands in --help, got {cmds}")
    checked = 0
    for opt in sorted(options(top) | {"--version", "-V"}):
        checked += 1
        if not has_token(text, opt):
            failures.append(f"zmqscope {opt} is not in the page")
    for cmd in cmds:
        if not re.search(rf"^\s+zmqscope {cmd}\b", text, re.M):
            failures.append(f"command {cmd} has no SYNOPSIS line")
        if not re.search(rf"^\s{{7}}{cmd}\b", text, re.M):
            failures.append(f"command {cmd} is not described under COMMANDS")
        for opt in sorted(options(help_text(binary, cmd))):
            checked += 1
            if not has_token(text, opt):
                failures.append(f"zmqscope {cmd} {opt} is not in the page")

    metrics = source_names(r'"((?:zmqscope_|lmcache:)[a-z0-9_:]+)"')
    for name in sorted(metrics):
        if not has_token(text, name):
            failures.append(f"metric family {name} is not in the page")
    caps = source_names(r"\b(CAP_(?:BPF|PERFMON|SYS_\w+|SET\w+|NET_\w+))\b")
    for cap in sorted(caps):
        if not has_token(text, cap):
            failures.append(f"capability {cap} is not in the page")
    with open(os.path.join(ROOT, "include", "commands.h")) as f:
        codes = re.findall(r"#define EXIT_\w+ (\d+)", f.read())
    status = text.split("EXIT STATUS", 1)[-1].split("\nHTTP", 1)[0]
    for code in ["0", *codes]:
        if not re.search(rf"^\s+{code}\s", status, re.M):
            failures.append(f"exit code {code} is not under EXIT STATUS")

    for f in failures:
        print("FAIL", f)
    print(f"man page: {checked} options in {len(cmds)} commands' help, {len(metrics)} metric "
          f"families, {len(caps)} capabilities, {len(codes) + 1} exit codes checked; "
          f"{len(failures)} missing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
