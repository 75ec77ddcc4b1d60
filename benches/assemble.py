#!/usr/bin/env python3
"""Reassembles docs/benchmarks.md: the host table benches/compare.sh generated (everything up to
the NOTES marker, kept as it is), then benches/benchmarks-notes.md (written by hand) with each
`<!-- include: FILE -->` line replaced by docs/FILE, a section another script generated
(scripts/bench-vm.sh: benchmarks-vm.md; scripts/bench-xfs.sh: benchmarks-xfs.md). So each
script regenerates its own part, and the analysis written by hand is never overwritten.

    assemble.py [DOC]          (default docs/benchmarks.md)
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NOTES = os.path.join(HERE, "benchmarks-notes.md")
MARKER = "<!-- hand-written notes follow (benches/benchmarks-notes.md); generated sections are included in them -->"
INCLUDE = re.compile(r"^<!-- include: ([A-Za-z0-9._-]+) -->$")


def notes(docs_dir):
    """The notes with their includes expanded (a missing file says so in place)."""
    with open(NOTES, encoding="utf-8") as f:
        text = f.read()
    out = []
    for line in text.splitlines():
        m = INCLUDE.match(line.strip())
        if not m:
            out.append(line)
            continue
        path = os.path.join(docs_dir, m.group(1))
        if os.path.exists(path):
            with open(path, encoding="utf-8") as g:
                out.append(g.read().rstrip("\n"))
        else:
            out.append(f"*({m.group(1)} not generated yet)*")
    return "\n".join(out) + "\n"


def main():
    doc = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "docs", "benchmarks.md")
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    if MARKER in text:
        head = text[: text.index(MARKER)]
    else:
        # A page from before the marker: the generated part ends with the chart.
        i = text.index("![chart](")
        head = text[: text.index("\n", i) + 1] + "\n"
    with open(doc, "w", encoding="utf-8") as f:
        f.write(head + MARKER + "\n\n" + notes(os.path.dirname(os.path.abspath(doc))))


if __name__ == "__main__":
    main()
