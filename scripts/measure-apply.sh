#!/usr/bin/env bash
# Layer apply throughput: `engine layer import` of a 150 MB / 10,000-file tar versus `tar -x`
# of the same file on the same disk. Prints one line per contender (median of 3 runs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
work=$(mktemp -d /var/tmp/engine-apply.XXXXXX)
trap 'umount -R "$work"/root/overlay2/*/merged 2>/dev/null || true; rm -rf "$work"' EXIT

# 10,000 files in 100 directories, 150 MB in all (15 KB each), incompressible content.
python3 - "$work/src" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.makedirs(f"{root}/dir{d:03}", exist_ok=True)
    for f in range(100):
        with open(f"{root}/dir{d:03}/file{f:03}", "wb") as fh:
            fh.write(os.urandom(15000))
PY
tar -C "$work/src" -cf "$work/layer.tar" .
size=$(stat -c %s "$work/layer.tar")

median() { sort -n | sed -n 2p; }
time_it() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }

tar_times=$(for i in 1 2 3; do rm -rf "$work/x"; mkdir "$work/x"; sync; time_it tar -C "$work/x" -xf "$work/layer.tar"; done | median)
for driver in overlay2 vfs; do
  t=$(for i in 1 2 3; do rm -rf "$work/root"; sync; time_it target/release/engine --data-root "$work/root" --storage-driver "$driver" layer import "$work/layer.tar"; done | median)
  printf '%-10s %6.2f s  %7.1f MB/s\n' "engine/$driver" "$t" "$(echo "$size / $t / 1000000" | bc -l)"
done
printf '%-10s %6.2f s  %7.1f MB/s\n' "tar -x" "$tar_times" "$(echo "$size / $tar_times / 1000000" | bc -l)"
