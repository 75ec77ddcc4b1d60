#!/usr/bin/env python3
"""Turns `engine bench --format json` into a markdown table (one row per workload, one column
pair per driver), for docs/benchmarks.md.

    bench-table.py BENCH.json [TITLE]
"""
import json
import sys


def fmt(s):
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def main():
    doc = json.load(open(sys.argv[1], encoding="utf-8"))
    drivers = [s["driver"] for s in doc["suites"] if s["status"] == "ok"]
    rows = {}
    for r in doc["rows"]:
        rows.setdefault((r["workload"], r["description"]), {})[r["driver"]] = r
    if len(sys.argv) > 2:
        print(f"{sys.argv[2]}\n")
    head = "| workload |"
    for d in drivers:
        head += f" {d}: limit | {d} | vs limit (noise) |"
    print(head)
    print("|" + " --- |" * (1 + 3 * len(drivers)))
    for (_, desc), by in rows.items():
        line = f"| {desc} |"
        for d in drivers:
            r = by.get(d)
            if r is None:
                line += " | | |"
                continue
            line += (f" {fmt(r['limit']['median'])} | {fmt(r['measured']['median'])} |"
                     f" {r['ratio']:.2f}x ({r['limit_noise'] * 100:.0f}%) |")
        print(line)
    for s in doc["suites"]:
        if s["status"] != "ok":
            print(f"\n{s['driver']}: {s['status']}")


if __name__ == "__main__":
    main()
