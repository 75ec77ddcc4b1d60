#!/usr/bin/env bash
# Why overlay2's sequential write + fsync came out ~15% faster than the bare directory in
# paired repetitions (docs/benchmarks.md): a 2x2 experiment on the method's own scratch
# filesystem (a fresh ext4 on a fallocated image, loop device in direct-I/O mode), running the
# workloads program of `engine bench` (`engine bench --run-workloads DIR`, the four workloads in
# order, seq write second) directly on the host, in four cells, rotating their order:
#
#   ovl@upper  through an overlay mount, upper dir at root/overlay2/<id>/diff (as the driver)
#   dir@upper  a plain directory at that same kind of place, the image's files unpacked in it
#   ovl@bare   through an overlay mount whose upper dir is at root/bench-bare/<id>/diff
#   dir@bare   a plain directory at root/bench-bare/dir (as the limit), the files unpacked
#   dir@bare2  a plain directory at root/bench-bare/<id> (a new name each time), the same
#
# If the lead follows the overlay mount, ovl@* beat dir@* wherever they are; if it follows the
# place, *@upper beat *@bare. Per cell and repetition it records the four workloads' times, the
# physical extents of seq.bin on the scratch fs (filefrag), the share of them that landed on
# blocks of the image file never written before (holes or unwritten extents of the image just
# before the cell ran: the host allocates or converts those on the first write), and the scratch
# disk's write counters (/proc/diskstats of the loop device) over the run.
#
#   sudo scripts/bench-seqwrite-ab.sh [REPS] [DIR]    (default 6 repetitions, DIR /var/tmp)
#   BENCH_AB_CELLS="ovl@upper dir@bare"  a subset of the cells
#   BENCH_AB_DISCARD=1  mkfs.ext4 with its default discard (holes punched in the image)
#   BENCH_AB_PREWRITE=1 the image written through with zeros before mkfs
#
# Output: JSON lines on stdout and in target/seqwrite-ab.jsonl; a summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "seqwrite-ab: must run as root" >&2; exit 1; }
reps=${1:-6}
base_dir=${2:-/var/tmp}
engine=${ENGINE_BIN:-target/debug/engine}
workload=${WORKLOAD_BIN:-target/debug/examples/workload}
[ -x "$engine" ] && [ -x "$workload" ] || { echo "seqwrite-ab: build first: cargo build --bin engine --example workload" >&2; exit 1; }
engine=$(realpath "$engine")
workload=$(realpath "$workload")

work=$(mktemp -d "$base_dir/seqwrite-ab.XXXXXX")
mnt=$work/mnt
img=$work/fs.img
cleanup() {
  set +e
  awk -v w="$mnt" 'index($5, w) == 1 { print length($5), $5 }' /proc/self/mountinfo | sort -rn | cut -d' ' -f2- |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$mnt" target
out=${BENCH_AB_OUT:-target/seqwrite-ab.jsonl}
: > "$out"

"$workload" base-tar "$work/base.tar"
fallocate -l 4G "$img"
# BENCH_AB_PREWRITE=1: the image written through with zeros first, so that no block of the
# scratch fs is new to the filesystem below (the host converts none on a first write).
if [ "${BENCH_AB_PREWRITE:-0}" = 1 ]; then dd if=/dev/zero of="$img" bs=4M count=1024 conv=notrunc,fsync oflag=direct status=none; fi
# BENCH_AB_DISCARD=1: mkfs's default discard, which punches the fallocated image full of holes
# (as engine bench did before it passed nodiscard).
if [ "${BENCH_AB_DISCARD:-0}" = 1 ]; then mkfs.ext4 -q -F "$img"; else mkfs.ext4 -q -F -E nodiscard "$img"; fi
mount -o loop,noinit_itable "$img" "$mnt"
loopdev=$(findmnt -n -o SOURCE "$mnt")
losetup --direct-io=on "$loopdev"
dev=$(basename "$loopdev")
root=$mnt/root
mkdir -p "$root/overlay2/lower/diff" "$root/bench-bare"
tar -xf "$work/base.tar" -C "$root/overlay2/lower/diff"
sync -f "$mnt"

# Sectors written by the loop device so far.
written() { awk -v d="$dev" '$3 == d { print $10 }' /proc/diskstats; }

# BENCH_AB_CELLS: a subset, e.g. "ovl@upper dir@bare" (the driver and the limit as engine bench).
read -r -a cells <<< "${BENCH_AB_CELLS:-ovl@upper dir@upper ovl@bare dir@bare dir@bare2}"
# The image's written extents (blocks of 4 KiB, as the scratch fs's): "start end" lines; the
# rest of it is holes or unwritten (fallocated) extents, never written.
written_extents() { filefrag -v "$img" | awk '/^ *[0-9]+:/ && !/unwritten/ { gsub(/\.\./, " "); gsub(/:/, ""); print $2, $3 }'; }
for rep in $(seq "$reps"); do
  n=${#cells[@]}
  for k in $(seq 0 $((n - 1))); do
    cell=${cells[$(((k + rep) % n))]}
    kind=${cell%@*}
    place=${cell#*@}
    id=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
    if [ "$place" = upper ]; then top=$root/overlay2/$id; else top=$root/bench-bare/$id; fi
    if [ "$kind" = ovl ]; then
      mkdir -p "$top/diff" "$top/work" "$top/merged"
      mount -t overlay overlay -o "lowerdir=$root/overlay2/lower/diff,upperdir=$top/diff,workdir=$top/work" "$top/merged"
      target=$top/merged
      file=$top/diff/bench-out/seq.bin
    else
      if [ "$place" = bare ]; then top=$root/bench-bare/dir; fi
      if [ "$place" = bare2 ]; then top=$root/bench-bare/$id; fi
      mkdir -p "$top"
      tar -xf "$work/base.tar" -C "$top"
      target=$top
      file=$top/bench-out/seq.bin
    fi
    sync -f "$mnt"
    written_extents > "$work/written"
    w0=$(written)
    timings=$("$engine" bench --run-workloads "$target")
    w1=$(written)
    extents=$(filefrag -v "$file" | awk '/^ *[0-9]+:/ { gsub(/\.\./, " "); gsub(/:/, ""); print $4, $5 }' | tr '\n' ' ')
    nextents=$(filefrag "$file" | awk '{ print $2 }')
    python3 - "$rep" "$cell" "$timings" "$((w1 - w0))" "$nextents" "$extents" "$(cut -d' ' -f1 /proc/loadavg)" "$work/written" <<'PY' | tee -a "$out"
import json, sys
rep, cell, timings, sectors, nextents, extents, load, wr = sys.argv[1:]
t = json.loads(timings)["timings"]
e = [int(x) for x in extents.split()]
ext = list(zip(e[0::2], e[1::2]))
done = [tuple(int(x) for x in l.split()) for l in open(wr) if l.strip()]
total = sum(b - a + 1 for a, b in ext)
fresh = total - sum(max(0, min(b, d) - max(a, c) + 1) for a, b in ext for c, d in done)
print(json.dumps({"rep": int(rep), "cell": cell, **t, "written_mib": int(sectors) * 512 / 2**20,
                  "seq_extents": int(nextents), "seq_first_block": ext[0][0] if ext else None,
                  "seq_on_unwritten": round(fresh / total, 3) if total else None,
                  "load1": float(load)}))
PY
    if [ "$kind" = ovl ]; then umount "$top/merged"; fi
    rm -rf "$top"
  done
done

python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cells = list(dict.fromkeys(x["cell"] for x in rows))
print("cell        seq_write median [min-max] (s)   create_files median (s)   seq.bin (extents, share on never-written image blocks) per rep")
for c in cells:
    r = [x for x in rows if x["cell"] == c]
    s = sorted(x["seq_write"] for x in r)
    print(f"{c:10}  {statistics.median(s):.3f} [{s[0]:.3f}-{s[-1]:.3f}]"
          f"            {statistics.median(x['create_files'] for x in r):.3f}"
          f"                   {[(x['seq_extents'], x['seq_on_unwritten']) for x in r]}")
print("by share of seq.bin on never-written image blocks: seq_write median (n)")
for lo, hi in [(0, 0.01), (0.01, 0.99), (0.99, 1.01)]:
    s = sorted(x["seq_write"] for x in rows if lo <= (x["seq_on_unwritten"] or 0) < hi)
    if s:
        print(f"  [{lo}, {hi}): {statistics.median(s):.3f} ({len(s)})")
PY
