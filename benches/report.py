#!/usr/bin/env python3
"""Turns the timings of benches/compare.sh (JSON lines) into OUT.md and OUT.png.

    report.py RESULTS.jsonl OUT [--quick 0|1] [--reps N] ... (see benches/compare.sh)
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

CONTENDERS = ["engine", "docker"]
WORKLOADS = ("create_files", "seq_write", "random_overwrite", "append_byte")


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = "?"
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gib = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return cpu, os.cpu_count(), mem_gib, platform.release()


def backing_fs(path):
    try:
        out = subprocess.run(
            ["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", path],
            capture_output=True, text=True, check=True,
        ).stdout.split()
        return f"{out[1]} on {out[0]} ({out[2]})"
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def load(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("out")
    ap.add_argument("--quick", default="0")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--run-reps", type=int)
    ap.add_argument("--load-reps", type=int)
    ap.add_argument("--load-bytes", type=int)
    ap.add_argument("--tmpdir", default="/var/tmp")
    ap.add_argument("--command", default="benches/compare.sh")
    ap.add_argument("--engine-version", default="")
    ap.add_argument("--docker-version", default="")
    ap.add_argument("--load-start", default="?")
    ap.add_argument("--profile", default="release")
    ap.add_argument("--load-end", default="?")
    ap.add_argument("--buffered-loop", action="store_true")
    a = ap.parse_args()
    quick = a.quick not in ("", "0")
    rows = load(a.results)

    # samples[(metric, contender, driver)] = [seconds...]
    samples = {}
    sizes = None
    for r in rows:
        if "workload" in r:
            sizes = r["workload"]["sizes"]
            for metric, secs in r["workload"]["timings"].items():
                samples.setdefault((metric, r["contender"], r["driver"]), []).append(secs)
        elif "secs" in r and r.get("rc", 0) == 0:
            samples.setdefault((r["metric"], r["contender"], r["driver"]), []).append(r["secs"])
            if r["metric"] in ("load", "pull") and r["contender"] == "engine":
                samples.setdefault((r["metric"] + "_rss", "engine", r["driver"]), []).append(r["maxrss_kb"])
        elif r.get("metric") == "dockerd_hwm":
            samples.setdefault(("load_rss", "docker", r["driver"]), []).append(r["kb"])
    if sizes is None:
        sys.exit("report: no workload results")
    drivers = sorted({d for (_, c, d) in samples if c in CONTENDERS}, key=lambda d: (d != "overlay2", d))

    mib = 1 << 20
    metrics = [
        ("create_files", f"create {sizes['new_files']:,} files of {sizes['new_file_bytes'] // 1024} KiB + syncfs", sizes["new_files"], "files/s"),
        ("seq_write", f"sequential write {sizes['seq_bytes'] // mib} MiB + fsync", sizes["seq_bytes"] / mib, "MiB/s"),
        ("random_overwrite", f"{sizes['overwrites']} random 4 KiB overwrites + fdatasync, {sizes['hot_bytes'] // mib} MiB lower file", sizes["overwrites"], "writes/s"),
        ("append_byte", f"append 1 byte to the {sizes['big_bytes'] // mib} MiB lower file (copy-up)", None, None),
        ("commit", "commit after the workloads, + syncfs", None, None),
        ("rm", "rm -f of that container", None, None),
        ("run_true", "run --rm IMAGE true", None, None),
        ("load", f"load -i of a {a.load_bytes / 1e6:.0f} MB / {sizes['apply_files']:,}-file image, + syncfs" if a.load_bytes else "load -i, + syncfs", a.load_bytes / mib if a.load_bytes else None, "MiB/s"),
        ("pull", "pull of that image from a loopback docker-registry (gzip layers), + syncfs", a.load_bytes / mib if a.load_bytes else None, "MiB/s"),
    ]

    def med(metric, contender, driver):
        v = samples.get((metric, contender, driver))
        return statistics.median(v) if v else None

    def fmt_t(s):
        if s is None:
            return "n/a"
        return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"

    def fmt_rate(s, work, unit):
        if s is None or work is None or s == 0:
            return ""
        return f" ({work / s:,.0f} {unit})"

    def ratio(x, y):
        return f"{x / y:.2f}x" if x is not None and y else "n/a"

    cpu, ncpu, mem, kernel = machine()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = []
    title = "# Benchmarks: engine vs Docker vs the bare filesystem"
    lines.append(title + (" (QUICK MODE)" if quick else ""))
    lines.append("")
    if quick:
        lines.append("> **QUICK MODE: a smoke run with small sizes and few repetitions, on a busy machine.**")
        lines.append("> These numbers only prove the tooling works end to end; they are not the benchmark.")
        lines.append("> The benchmark is `sudo benches/compare.sh` (no `BENCH_QUICK`).")
        lines.append("")
    lines.append(f"- Date: {now}")
    lines.append(f"- Machine: {ncpu} CPUs ({cpu}), {mem} RAM; kernel {kernel}")
    lines.append(f"- Disk under test: {backing_fs(a.tmpdir)} ({a.tmpdir}), holding each suite's fresh ext4 image (loop-mounted)")
    lines.append(f"- Load average when the run started: {a.load_start}; when it ended: {a.load_end} (2 CPUs shared with others compiling)")
    suite_loads = {}
    for r in rows:
        if r.get("metric") == "loadavg":
            suite_loads.setdefault(r["suite"], {})[r["when"]] = r["load"]
    if suite_loads:
        lines.append("- Load average (1, 5, 15 min) at the start -> end of each suite: " + "; ".join(
            f"{s} {v.get('start', '?')} -> {v.get('end', '?')}" for s, v in suite_loads.items()))
    lines.append(f"- engine: git {a.engine_version}, {a.profile} build; Docker: {a.docker_version} (dockerd started by the script, `--bridge=none --iptables=false`)")
    lines.append(f"- Medians of {a.reps} fresh containers per contender (workloads, commit, rm), {a.run_reps} runs (`run --rm`), {a.load_reps} loads")
    lines.append(f"- Command: `{a.command}`; raw timings: `{os.path.basename(a.out)}.jsonl`")
    lines.append("")
    lines.append("Method (one for every row): each suite (the bare one, and each contender on each driver) runs on")
    lines.append("a fresh ext4 made for it on an image file on the disk under test (allocated up front and made without discard, which would punch it full of holes),")
    lines.append("loop-mounted" + (" (buffered loop device: BENCH_BUFFERED_LOOP=1)" if a.buffered_loop else " with the loop device in direct-I/O mode") + ". The")
    lines.append("workloads (benches/workloads/mod.rs, the code the criterion bench runs) are one program")
    lines.append("(`engine bench --run-workloads`, bind-mounted read-only with its libraries) run inside a fresh")
    lines.append("container of the contender, writing either to the container's root (the driver) or to a")
    lines.append("directory of the same filesystem bind-mounted at /bare holding the image's files (the limit,")
    lines.append("measured in each contender's own suite, alternating which goes first). Each workload times its")
    lines.append("own I/O after an untimed `syncfs`. Load's limit is `tar -x` + `syncfs` on a fresh filesystem;")
    lines.append("`run --rm true`'s floor is crun running an OCI bundle of the same rootfs. Load and commit are")
    lines.append("timed up to a `syncfs` (each pays for its own writeback); every other timed step starts after")
    lines.append("an untimed `sync`. Ratios are of times: below 1x is faster. Limit noise: (max - min) / median")
    lines.append("of the limit's repetitions, in engine's suite / in Docker's suite; a ratio closer to 1.0x")
    lines.append("than its noise is no difference.")
    lines.append("")
    lines.append("| workload | driver | limit (engine's suite) | engine | limit (docker's suite) | docker | engine / limit | docker / limit | engine / docker | limit noise |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")

    def noise(metric, contender, driver):
        v = samples.get((metric, contender, driver))
        if not v or len(v) < 2:
            return "n/a"
        m = statistics.median(v)
        return f"{(max(v) - min(v)) / m * 100:.0f}%" if m else "n/a"

    for key, label, work, unit in metrics:
        for d in drivers:
            e, k = med(key, "engine", d), med(key, "docker", d)
            if e is None and k is None:
                continue
            if key in WORKLOADS:
                le, lk = med(key, "bare@engine", d), med(key, "bare@docker", d)
                nz = f"{noise(key, 'bare@engine', d)} / {noise(key, 'bare@docker', d)}"
            elif key == "run_true":
                le = lk = med(key, "crun", "-")
                nz = noise(key, "crun", "-")
                label = "run --rm IMAGE true (limit: crun run of an OCI bundle of the rootfs)"
            else:
                le = lk = med(key, "bare", "-")
                nz = noise(key, "bare", "-")
            lines.append(
                f"| {label} | {d} | {fmt_t(le)}{fmt_rate(le, work, unit)} | {fmt_t(e)}{fmt_rate(e, work, unit)} "
                f"| {fmt_t(lk)}{fmt_rate(lk, work, unit)} | {fmt_t(k)}{fmt_rate(k, work, unit)} "
                f"| {ratio(e, le)} | {ratio(k, lk)} | {ratio(e, k)} | {nz} |"
            )
    for d in drivers:
        e, k = med("load_rss", "engine", d), med("load_rss", "docker", d)
        if e is not None or k is not None:
            lines.append(
                f"| peak RSS during load | {d} | | {e / 1024:.1f} MiB (engine process) | | "
                f"{(f'{k / 1024:.1f} MiB' if k else 'n/a')} (dockerd VmHWM) | | | | |"
            )
        e = med("pull_rss", "engine", d)
        if e is not None:
            lines.append(f"| peak RSS during pull | {d} | | {e / 1024:.1f} MiB (engine process) | | | | | | |")
    lines.append("")
    lines.append(f"![chart]({os.path.basename(a.out)}.png)")
    lines.append("")
    # The analysis written by hand (causes, evidence, the VM's table) is kept apart, so a new
    # run regenerates the figures without losing it.
    # Sections other scripts generate (the VM's table, the xfs one) are included in the notes
    # from their own files (benches/assemble.py), so this run does not touch them.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import assemble

    lines.append(assemble.MARKER)
    lines.append("")
    lines.append(assemble.notes(os.path.dirname(os.path.abspath(a.out + ".md"))))
    with open(a.out + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    chart(a.out + ".png", metrics, drivers, med, quick)


def chart(path, metrics, drivers, med, quick):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: no matplotlib: no chart", file=sys.stderr)
        return
    shown = [m for m in metrics if any(med(m[0], c, d) is not None for c in CONTENDERS for d in drivers)]
    cols = 4
    rows = (len(shown) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    bars = [("bare", "-", "bare fs", "#7f7f7f"), ("crun", "-", "crun", "#7f7f7f")]
    palette = {"engine": ["#1f77b4", "#9ecae1"], "docker": ["#d62728", "#fc9272"]}
    for i, d in enumerate(drivers):
        for c in CONTENDERS:
            bars.append((f"bare@{c}", d, f"limit ({c} {d})", "#bdbdbd"))
            bars.append((c, d, f"{c} {d}", palette[c][i % 2]))
    for ax, (key, label, _, _) in zip(axes.flat, shown):
        names, values, colors = [], [], []
        for c, d, name, color in bars:
            v = med(key, c, d)
            if v is not None:
                names.append(name)
                values.append(v * 1000)
                colors.append(color)
        ax.bar(range(len(values)), values, color=colors)
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
        ax.set_title(label, fontsize=8)
        ax.set_ylabel("ms (median, lower is better)", fontsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle("engine vs docker vs bare filesystem" + (" - QUICK MODE (smoke run, not the benchmark)" if quick else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
