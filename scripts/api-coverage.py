#!/usr/bin/env python3
"""Which Docker Engine API routes the daemon serves, from its router (api/src/server.rs),
against a version's spec (moby's api/docs/v1.41.yaml): prints the count and the routes not
served.

Usage: scripts/api-coverage.py SPEC.yaml
"""
import re
import sys
from pathlib import Path

router = (Path(__file__).resolve().parent.parent / "api/src/server.rs").read_text()
served = set()
for m in re.finditer(r'\.route\(\s*"([^"]+)",\s*((?:[^()]|\([^()]*\))*)\)', router):
    path = re.sub(r"\{\*?\w+\}", "{}", m.group(1))
    for method in re.findall(r"\b(get|post|put|delete|head)\(", m.group(2)):
        served.add((method.upper(), path))

spec, in_paths, current = [], False, None
for line in Path(sys.argv[1]).read_text().splitlines():
    if line.startswith("paths:"):
        in_paths = True
        continue
    if in_paths and re.match(r"^\S", line):
        break
    if m := re.match(r"^  (/\S+):\s*$", line):
        current = m.group(1)
    elif (m := re.match(r"^    (get|post|put|delete|head|patch):", line)) and current:
        spec.append((m.group(1).upper(), current))


def is_served(method, path):
    norm = re.sub(r"\{[^}]+\}", "{}", path)
    # /images/{*name} takes every /images/NAME/... route (names hold slashes).
    return (method, norm) in served or (
        norm.startswith("/images/{}") and (method, "/images/{}") in served
    )


missing = [f"{m} {p}" for m, p in spec if not is_served(m, p)]
print(f"{len(spec) - len(missing)} of {len(spec)} routes served")
for r in missing:
    print("not served:", r)
