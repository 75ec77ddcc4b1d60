#!/usr/bin/env bash
# Does a sequential write cost more the first time a region of the disk is written? The 256 MiB
# write + fsync of `engine bench` (1 MiB writes, fsync), on a fresh loop-mounted ext4 as each
# suite of `engine bench` / benches/compare.sh gets one, with the filesystem image made two
# ways:
#
#   falloc    allocated up front with fallocate (what engine bench and compare.sh do): its
#             blocks are unwritten extents in the filesystem below (and, on a thin or
#             discarding virtual disk, possibly not backed yet)
#   written   written through once with zeros (dd, direct I/O) before mkfs
#   dio       allocated up front, and the loop device switched to direct I/O after mounting
#             (losetup --direct-io=on: what they do now), so the image's blocks are not
#             cached a second time in the page cache of the image file
#
# In each, NEW files in fresh directories one after another (each lands on blocks of the image
# never written yet), then the first file rewritten in place (blocks written already).
#
#   sudo scripts/bench-first-write.sh [ROUNDS] [DIR]     default: 3 rounds in /var/tmp
#
# Prints one JSON line per write and a summary; nothing is left behind.
set -euo pipefail
rounds=${1:-3}
dir=${2:-/var/tmp}
[ "$(id -u)" = 0 ] || { echo "bench-first-write: must run as root" >&2; exit 1; }
work=$(mktemp -d "$dir/engine-first-write.XXXXXX")
cleanup() { umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
out=$work/results.jsonl

seqwrite() { # $1 file, $2 new|again: seconds
  sync
  python3 - "$1" "$2" <<'PY'
import os, sys, time
path, mode = sys.argv[1], sys.argv[2]
chunk = bytes((i * 7 + 2) & 0xff for i in range(1 << 20))
t = time.monotonic()
flags = os.O_WRONLY | (os.O_CREAT | os.O_TRUNC if mode == "new" else 0)
fd = os.open(path, flags, 0o644)
for _ in range(256):
    os.write(fd, chunk)
os.fsync(fd)
os.close(fd)
print(f"{time.monotonic() - t:.4f}")
PY
}

# Where the file starts in the filesystem (MiB from the start of the image), by filefrag.
at_mib() {
  filefrag -v "$1" | awk '/blocks of/ { for (i = 1; i < NF; i++) if ($i == "of") bs = $(i + 1) }
    $1 == "0:" { sub(/\.\..*/, "", $4); print int($4 * bs / 1048576); exit }'
}

for round in $(seq "$rounds"); do
  for how in falloc written dio; do
    img=$work/fs.img
    if [ "$how" != written ]; then
      fallocate -l 4G "$img"
    else
      dd if=/dev/zero of="$img" bs=4M count=1024 oflag=direct status=none
    fi
    mkfs.ext4 -q -F "$img"
    mkdir -p "$work/mnt"
    mount -o loop,noinit_itable "$img" "$work/mnt"
    [ "$how" = dio ] && losetup --direct-io=on "$(findmnt -no SOURCE "$work/mnt")"
    for i in 1 2 3 4 5 6; do
      mkdir -p "$work/mnt/root/d$i/dir"
      t=$(seqwrite "$work/mnt/root/d$i/dir/seq.bin" new)
      printf '{"round":%s,"image":"%s","write":"new-%s","seconds":%s,"load":"%s","at_mib":%s}\n' \
        "$round" "$how" "$i" "$t" "$(cut -d' ' -f1 /proc/loadavg)" "$(at_mib "$work/mnt/root/d$i/dir/seq.bin")" | tee -a "$out"
    done
    t=$(seqwrite "$work/mnt/root/d1/dir/seq.bin" again)
    printf '{"round":%s,"image":"%s","write":"rewrite-1","seconds":%s,"load":"%s"}\n' \
      "$round" "$how" "$t" "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
    umount "$work/mnt"
    rm -f "$img"
  done
done

python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| image | write | n | median | min-max | MiB/s (median) |")
print("| --- | --- | --- | --- | --- | --- |")
for how in ("falloc", "written", "dio"):
    for kind, pred in (("new file (blocks never written)", lambda w: w.startswith("new")),
                       ("rewrite in place", lambda w: w.startswith("rewrite"))):
        v = [r["seconds"] for r in rows if r["image"] == how and pred(r["write"])]
        m = statistics.median(v)
        print(f"| {how} | {kind} | {len(v)} | {m:.3f} s | {min(v):.3f}-{max(v):.3f} s | {256 / m:.0f} |")
PY
