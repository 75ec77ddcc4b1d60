#!/usr/bin/env python3
"""Times one command for benches/compare.sh and appends the result as a JSON line.

    timeit.py RESULTS CONTENDER DRIVER METRIC -- COMMAND [ARG...]

Records {"contender", "driver", "metric", "secs", "maxrss_kb", "rc"}: wall seconds, and the
peak resident set of the command (getrusage of the waited-for child, which GNU time reports
too). The command's output passes through; its exit status is this script's.
"""
import json
import resource
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 7 or sys.argv[5] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    results, contender, driver, metric = sys.argv[1:5]
    cmd = sys.argv[6:]
    start = time.monotonic()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL)
    secs = time.monotonic() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    record = {
        "contender": contender,
        "driver": driver,
        "metric": metric,
        "secs": secs,
        "maxrss_kb": usage.ru_maxrss,
        "rc": proc.returncode,
    }
    with open(results, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
    if proc.returncode != 0:
        print(f"timeit: {' '.join(cmd)} exited {proc.returncode}", file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
