#!/usr/bin/env python3
"""Turns one or more `engine bench --format json` runs into a generated section of
docs/benchmarks.md, and keeps everything measured in one JSON document beside it.

    bench-doc.py RAWDIR --title T --started S --command C --profile P --out OUT [--runs A,B]

RAWDIR holds RUN.json (one `engine bench` document per run, e.g. drivers.json and
thinpooldev.json; or ext4.json and xfs.json), load-marks.txt (lines "RUN DRIVER start|end EPOCH
L1 L5 L15": the host's load average when a suite started and when a run ended), load-samples.txt
(lines "EPOCH L1 L5 L15", every 30 s) and optionally meta.txt ("key value" lines: kernel,
host, ...). Writes OUT.json and OUT.md. The markdown is generated: it says so, and the analysis
written by hand stays in benches/benchmarks-notes.md.
"""
import argparse
import json
import os
import subprocess
import sys

WORKLOADS = ["create_files", "seq_write", "random_overwrite", "append_byte"]
RUN_LABELS = {
    "drivers": "",
    "thinpooldev": "dm.thinpooldev on its own disk",
    "ext4": "ext4",
    "xfs": "xfs reflink=1",
}


def fmt(s):
    if s is None:
        return "n/a"
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def stat(values):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return None
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return {"median": med, "min": v[0], "max": v[-1], "values": values}


def noise(s):
    return (s["max"] - s["min"]) / s["median"] if s and s["median"] > 0 else 0.0


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.split() for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--title", default="")
    ap.add_argument("--started", default="")
    ap.add_argument("--command", default="")
    ap.add_argument("--profile", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", default="drivers,thinpooldev,ext4,xfs")
    a = ap.parse_args()

    runs = []
    for name in a.runs.split(","):
        p = os.path.join(a.raw, name + ".json")
        if os.path.exists(p) and os.path.getsize(p) > 0:
            with open(p, encoding="utf-8") as f:
                runs.append((name, json.load(f)))
    if not runs:
        sys.exit(f"bench-doc: no run JSON in {a.raw}")
    marks = read_lines(os.path.join(a.raw, "load-marks.txt"))
    meta = {r[0]: " ".join(r[1:]) for r in read_lines(os.path.join(a.raw, "meta.txt")) if r}

    # Each suite's host load: at its start, at the next suite's start (or its run's end), and
    # the highest 1-minute load sampled in between. A mark is "RUN DRIVER start|end EPOCH"; its
    # load is the first sample at or after it.
    full = [(int(t), f"{a} {b} {c}", float(a)) for t, a, b, c in
            (r[:4] for r in read_lines(os.path.join(a.raw, "load-samples.txt")) if len(r) >= 4)]
    samples = [(t, l1) for t, _, l1 in full]

    def load_at(t):
        after = [s for s in full if s[0] >= t]
        return (after[0] if after else full[-1])[1] if full else "?"

    marks = [m for m in marks if len(m) >= 4]
    loads = {}
    for i, m in enumerate(marks):
        if m[2] != "start":
            continue
        nxt = marks[i + 1] if i + 1 < len(marks) else None
        t0, t1 = int(m[3]), int(nxt[3]) if nxt else None
        inside = [l1 for t, l1 in samples if t >= t0 and (t1 is None or t <= t1)]
        loads[(m[0], m[1])] = {
            "start": load_at(t0),
            "end": load_at(t1) if t1 else None,
            "max_1min": max(inside) if inside else None,
            "minutes": round((t1 - t0) / 60, 1) if t1 else None,
        }

    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
        rev += " (uncommitted changes)" if dirty else ""
    except OSError:
        rev = "?"

    # Columns: one per (run, driver) that ran.
    cols = []
    for name, doc in runs:
        for s in doc["suites"]:
            if s["status"] != "ok":
                continue
            label = s["driver"] + (f" ({RUN_LABELS.get(name, name)})" if RUN_LABELS.get(name, name) else "")
            col = {"run": name, "driver": s["driver"], "label": label, "load": loads.get((name, s["driver"]))}
            for w in WORKLOADS:
                col[w] = {
                    "limit": stat([t[w] for t in s["limit"]]),
                    "measured": stat([t[w] for t in s["measured"]]),
                }
            cols.append(col)
    desc = {}
    for _, doc in runs:
        for r in doc["rows"]:
            desc.setdefault(r["workload"], r["description"])
    first = runs[0][1]
    skipped = [(n, s["driver"], s["status"]) for n, d in runs for s in d["suites"] if s["status"] != "ok"]

    out = {
        "title": a.title,
        "started": a.started,
        "command": a.command,
        "profile": a.profile,
        "git": rev,
        "meta": meta,
        "load_samples": samples,
        "load_marks": marks,
        "runs": {n: d for n, d in runs},
    }
    with open(a.out + ".json", "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")

    L = []
    L.append(f"<!-- generated by {a.command or 'a bench script'} (benches/bench-doc.py) from "
             f"{os.path.basename(a.out)}.json: do not edit, re-run the script -->")
    L.append("")
    if a.title:
        L.append(f"*{a.title}*")
        L.append("")
    L.append(f"- Run: {a.started}, `{a.command}`; engine git {rev}, {a.profile or '?'} build; "
             f"{first['repetitions']} repetitions per suite (limit and driver alternating which goes first); "
             f"backing filesystem {', '.join(dict.fromkeys(d['backing_filesystem'] for _, d in runs))}, "
             f"scratch loop {first.get('scratch_loop', '?')}")
    for k, v in meta.items():
        L.append(f"- {k}: {v}")
    if loads:
        parts = []
        for c in cols:
            ld = c["load"]
            if ld:
                parts.append(f"{c['label']} {ld['start']} -> {ld['end'] or '?'} (highest 1-min {ld['max_1min']}, "
                             f"{ld['minutes']} min)")
        L.append("- The host's load average (1, 5, 15 min) at the start -> end of each suite: " + "; ".join(parts)
                 + ". 2 host CPUs, shared with others compiling on this machine.")
    L.append("")
    L.append("Medians, [min-max] over the repetitions; ratio = driver / its own suite's limit (below 1x is "
             "faster); noise = (max - min) / median of that limit.")
    L.append("")
    head = "| workload |"
    for c in cols:
        head += f" {c['label']}: limit | {c['label']} | vs limit (noise) |"
    L.append(head)
    L.append("|" + " --- |" * (1 + 3 * len(cols)))
    for w in WORKLOADS:
        line = f"| {desc.get(w, w)} |"
        for c in cols:
            lim, mea = c[w]["limit"], c[w]["measured"]
            if not lim or not mea:
                line += " | | |"
                continue
            line += (f" {fmt(lim['median'])} [{fmt(lim['min'])}-{fmt(lim['max'])}] |"
                     f" {fmt(mea['median'])} [{fmt(mea['min'])}-{fmt(mea['max'])}] |"
                     f" {mea['median'] / lim['median']:.2f}x ({noise(lim) * 100:.0f}%) |")
        L.append(line)
    L.append("")
    if len(cols) > 1:
        L.append("Which wins each workload: the columns ranked by their ratio to their own limit (the suites ran "
                 "one after another, so the ratio, not the absolute time, compares them under a moving load); "
                 "`>` where the next ratio is higher by more than the larger of the two limits' noise, `~` where "
                 "it is not (no difference shown):")
        L.append("")
        L.append("| workload | ranking (ratio to limit; driver median) |")
        L.append("| --- | --- |")
        for w in WORKLOADS:
            ranked = sorted((c for c in cols if c[w]["limit"] and c[w]["measured"]),
                            key=lambda c: c[w]["measured"]["median"] / c[w]["limit"]["median"])
            text = ""
            for i, c in enumerate(ranked):
                m = c[w]["measured"]
                if i:
                    p = ranked[i - 1][w]
                    r0 = p["measured"]["median"] / p["limit"]["median"]
                    r1 = m["median"] / c[w]["limit"]["median"]
                    text += " > " if r1 / r0 - 1 > max(noise(p["limit"]), noise(c[w]["limit"])) else " ~ "
                text += f"{c['label']} {m['median'] / c[w]['limit']['median']:.2f}x ({fmt(m['median'])})"
            L.append(f"| {desc.get(w, w)} | {text} |")
        L.append("")
    for n, d, why in skipped:
        L.append(f"- {d} ({n}): {why}")
    with open(a.out + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(L).rstrip() + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
