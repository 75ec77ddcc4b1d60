#!/usr/bin/env bash
# overlay2 on ext4 against overlay2 on XFS made with reflink=1 (overlayfs copies up by cloning
# there), with the method of docs/benchmarks.md: `engine bench --storage-driver overlay2`, once
# with --backing-fs ext4 and once with --backing-fs xfs, each suite on a fresh filesystem
# image in DIR on a direct-I/O loop device, against its own bare directory.
#
#   sudo scripts/bench-xfs.sh [ENGINE-BENCH-ARGS...]     e.g. --reps 6 (default 5)
#
# Output: docs/benchmarks-xfs.json (both runs, the host's load per suite) and
# docs/benchmarks-xfs.md (the generated table, benches/bench-doc.py), then docs/benchmarks.md
# reassembled (benches/assemble.py). Environment: BENCH_DIR (where the scratch images go,
# default /var/tmp), BENCH_PROFILE (cargo profile of the engine binary: release, the default,
# or debug), BENCH_XFS_OUT (output path without extension, default docs/benchmarks-xfs).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-xfs: must run as root" >&2; exit 1; }
profile=${BENCH_PROFILE:-release}
if [ "$profile" = release ]; then cargo build --release --quiet --bin engine; else cargo build --quiet --bin engine; fi
engine=$(pwd)/target/$profile/engine
dir=${BENCH_DIR:-/var/tmp}
args=("$@")
[ $# -gt 0 ] || args=(--reps 5)
raw=target/bench-xfs-raw
rm -rf "$raw"
mkdir -p "$raw"
started=$(date -u '+%Y-%m-%d %H:%M UTC')
(while :; do echo "$(date +%s) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 10; done) > "$raw/load-samples.txt" &
sampler=$!
trap 'kill "$sampler" 2>/dev/null || true' EXIT
status=0
for fs in ext4 xfs; do
  # Progress on the console; each suite's start and the run's end stamped for the load.
  set +e
  "$engine" --storage-driver overlay2 bench --dir "$dir" --backing-fs "$fs" --format json "${args[@]}" \
    2>&1 > "$raw/$fs.json" | while IFS= read -r l; do
      echo "$l" >&2
      case "$l" in *": making a fresh"*) echo "$fs overlay2 start $(date +%s)" >> "$raw/load-marks.txt" ;; esac
    done
  s=${PIPESTATUS[0]}
  set -e
  echo "$fs - end $(date +%s)" >> "$raw/load-marks.txt"
  [ "$s" = 0 ] || { status=$s; rm -f "$raw/$fs.json"; }
done
kill "$sampler" 2>/dev/null || true
echo "host $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)), kernel $(uname -r); scratch images in $dir ($(findmnt -n -o FSTYPE -T "$dir") on $(findmnt -n -o SOURCE -T "$dir"))" > "$raw/meta.txt"
if [ -s "$raw/ext4.json" ] || [ -s "$raw/xfs.json" ]; then
  python3 benches/bench-doc.py "$raw" --runs ext4,xfs --started "$started" \
    --command "sudo BENCH_PROFILE=$profile scripts/bench-xfs.sh ${args[*]}" --profile "$profile" \
    --title "overlay2 on ext4 and on xfs (reflink=1), this machine" --out "${BENCH_XFS_OUT:-docs/benchmarks-xfs}"
  # docs/benchmarks.md includes docs/benchmarks-xfs.md: reassembled only when that was written.
  [ -n "${BENCH_XFS_OUT:-}" ] || python3 benches/assemble.py
fi
exit "$status"
