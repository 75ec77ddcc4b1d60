#!/usr/bin/env bash
# What bounds devicemapper's sequential write: the 256 MiB write + fsync of `engine bench`
# (1 MiB writes, then fsync) on each layer of the loop-lvm stack the engine builds, one
# setting changed at a time, in the VM of tests/vm/run.sh (this kernel has no device-mapper),
# on a virtio disk backed by a raw file (cache=none), as scripts/bench-vm.sh does.
#
#   sudo scripts/bench-dm-stack.sh [REPS [CONFIG...]]        default: 2 repetitions, all configs
#
# Every config gets, in every repetition, a fresh scratch ext4 (a 4 GiB image allocated up
# front on the disk, loop-mounted with noinit_itable, as `engine bench` makes each suite's),
# then builds its stack on it, writes the file once (first write: ext4 allocates, the thin
# pool provisions) and once more in place (the same blocks, already provisioned), and tears
# it down. The configs run interleaved within each repetition. Configs (see `config()` below):
#
#   bare            the file in a nested directory of the scratch ext4: engine bench's limit
#   loop            ext4 (the driver's mkfs options) on a loop device over a sparse 2.4 GiB file
#                   of the scratch ext4: the pool's data device, without the pool
#   loop-dio        the same, the loop device in direct-I/O mode
#   thin64          what the engine builds (loop-lvm): pool over two buffered loop devices, 64K
#                   blocks, skip_block_zeroing; ext4 made with nodiscard,lazy_itable_init=0 on
#                   a snapshot of a base thin device
#   thin512 thin1M  the same, other pool block sizes (dm.blocksize)
#   thin64-zero     without skip_block_zeroing (each new pool block zeroed first)
#   thin64-nopassdown  the pool with no_discard_passdown
#   thin64-wb       ext4 mounted data=writeback (dm.mountopt)
#   thin64-xfs      xfs instead of ext4 (dm.fs=xfs)
#   thin64-falloc   the pool's data file allocated up front (fallocate) instead of sparse
#   thin64-dio thin512-dio   the pool's loop devices in direct-I/O mode
#   (also accepted: thin128, thin64-lazy: ext4 made with mkfs.ext4's defaults)
#
# Output: one JSON line per measurement in target/bench-dm-stack.jsonl, a markdown table
# (medians, min-max, throughput, ratio to bare) in target/bench-dm-stack.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-dm-stack: must run as root" >&2; exit 1; }

mkdir -p target
disk=$(pwd)/target/bench-dm-stack-disk.img
rm -f "$disk"
truncate -s 24G "$disk"
trap 'rm -f "$disk"' EXIT

cat > target/bench-dm-stack-run.sh <<'GUEST'
#!/bin/bash
# In the guest.
set -euo pipefail
export LC_ALL=C
reps=${1:-2}
shift || true
configs=("$@")
((${#configs[@]})) || configs=(bare loop loop-dio thin64 thin512 thin1M thin64-zero
  thin64-nopassdown thin64-wb thin64-xfs thin64-falloc thin64-dio thin512-dio)
mkfs.ext4 -q -F /dev/vda
disk=/var/tmp/disk
mkdir -p $disk
mount /dev/vda $disk
S=$disk/scratch
MiB=$((1 << 20))

# 256 MiB in 1 MiB writes, then fsync, timed from open to fsync's return (the workload of
# benches/workloads/mod.rs seq_write); "again" rewrites the existing file in place.
seqwrite() { # $1 file, $2 new|again
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

scratch_up() {
  mkdir -p $S
  fallocate -l 4G $disk/scratch.img
  mkfs.ext4 -q -F $disk/scratch.img
  mount -o loop,noinit_itable $disk/scratch.img $S
  mkdir -p $S/root/devicemapper $S/root/bench-bare/dir
}
scratch_down() {
  umount $S
  rm -f $disk/scratch.img
}

dio=off
# The thin devices' virtual size, and the loop rows' file: 1 GiB (the engine's default base
# size is 10 GiB, engine bench's 4 GiB: smaller here only so that mkfs without lazy init,
# which writes every inode table through the stack, takes less of the emulated CPU).
dev_sectors=$((1 << 21))
prealloc=
mkfs_ext4() { mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$1"; }

# No udev in the guest: the node under /dev/mapper is made by hand.
dm_create() { dmsetup create --noudevsync "$1" --table "$2"; dmsetup mknodes "$1"; }

# A pool over two loop devices of sparse files on the scratch fs, as drivers/devicemapper
# pool.rs makes it; $1 block size in KiB, $2.. features.
pool_up() {
  local bs=$1
  shift
  if [ -n "$prealloc" ]; then
    fallocate -l 2458M $S/root/devicemapper/data
  else
    truncate -s 2458M $S/root/devicemapper/data
  fi
  truncate -s 256M $S/root/devicemapper/metadata
  dl=$(losetup -f --show --direct-io=$dio $S/root/devicemapper/data)
  ml=$(losetup -f --show --direct-io=$dio $S/root/devicemapper/metadata)
  local sectors=$(( $(blockdev --getsz "$dl") ))
  dmsetup create --noudevsync bench-pool --table "0 $sectors thin-pool $ml $dl $((bs * 2)) 32768 $# $*"
  pooldev=$(dmsetup info -c --noheadings -o major,minor bench-pool | tr -d ' ')
  dmsetup message bench-pool 0 "create_thin 0"
  dm_create bench-base "0 $dev_sectors thin $pooldev 0"
}
# The base device gets the filesystem; the container is a snapshot of it (create_snap).
thin_fs() { # $1 mkfs command, $2 mount options
  $1 /dev/mapper/bench-base
  dmsetup remove --noudevsync bench-base
  dmsetup message bench-pool 0 "create_snap 1 0"
  dm_create bench-thin "0 $dev_sectors thin $pooldev 1"
  mkdir -p $S/mnt
  mount ${2:+-o "$2"} /dev/mapper/bench-thin $S/mnt
  target=$S/mnt
}
pool_down() {
  umount $S/mnt
  dmsetup remove --noudevsync bench-thin
  dmsetup remove --noudevsync bench-pool
  losetup -d "$dl" "$ml"
}
loop_up() {
  truncate -s 1G $S/root/devicemapper/data
  dl=$(losetup -f --show --direct-io=$dio $S/root/devicemapper/data)
  mkfs_ext4 "$dl"
  mkdir -p $S/mnt
  mount "$dl" $S/mnt
  target=$S/mnt
}
loop_down() { umount $S/mnt; losetup -d "$dl"; }

# Sets up config $1, leaving the directory to write in $target; `down` undoes it.
config() {
  dio=off
  prealloc=
  case $1 in
    bare) target=$S/root/bench-bare/dir; down=: ;;
    loop) loop_up; down=loop_down ;;
    loop-dio) dio=on; loop_up; down=loop_down ;;
    thin64) pool_up 64 skip_block_zeroing; thin_fs mkfs_ext4; down=pool_down ;;
    thin128) pool_up 128 skip_block_zeroing; thin_fs mkfs_ext4; down=pool_down ;;
    thin512) pool_up 512 skip_block_zeroing; thin_fs mkfs_ext4; down=pool_down ;;
    thin1M) pool_up 1024 skip_block_zeroing; thin_fs mkfs_ext4; down=pool_down ;;
    thin64-zero) pool_up 64; thin_fs mkfs_ext4; down=pool_down ;;
    thin64-nopassdown) pool_up 64 skip_block_zeroing no_discard_passdown; thin_fs mkfs_ext4; down=pool_down ;;
    thin64-lazy) pool_up 64 skip_block_zeroing; thin_fs "mkfs.ext4 -q -F"; down=pool_down ;;
    thin64-wb) pool_up 64 skip_block_zeroing; thin_fs mkfs_ext4 data=writeback; down=pool_down ;;
    thin64-xfs) pool_up 64 skip_block_zeroing; thin_fs "mkfs.xfs -q -f" nouuid; down=pool_down ;;
    thin64-dio) dio=on; pool_up 64 skip_block_zeroing; thin_fs mkfs_ext4; down=pool_down ;;
    thin64-falloc) prealloc=1; pool_up 64 skip_block_zeroing; thin_fs mkfs_ext4; down=pool_down ;;
    thin512-dio) dio=on; pool_up 512 skip_block_zeroing; thin_fs mkfs_ext4; down=pool_down ;;
    *) echo "unknown config $1" >&2; exit 2 ;;
  esac
}

echo "BENCH-DM-BEGIN"
for rep in $(seq "$reps"); do
  for c in "${configs[@]}"; do
    scratch_up
    config "$c" >/dev/null
    first=$(seqwrite "$target/seq.bin" new)
    again=$(seqwrite "$target/seq.bin" again)
    $down
    scratch_down
    printf '{"rep":%s,"config":"%s","first":%s,"again":%s}\n' "$rep" "$c" "$first" "$again"
  done
done
echo "BENCH-DM-END"
umount $disk
GUEST
chmod +x target/bench-dm-stack-run.sh

set +e
ENGINE_VM_DISK=$disk ENGINE_VM_MEM=${ENGINE_VM_MEM:-3G} ENGINE_VM_TIMEOUT=${ENGINE_VM_TIMEOUT:-7200} \
  tests/vm/run.sh -- target/bench-dm-stack-run.sh "$@" 2>&1 | tee target/bench-dm-stack-output.txt
status=${PIPESTATUS[0]}
set -e
# (The console may put terminal escapes before a line: match the records themselves.)
grep -o '{"rep".*}' target/bench-dm-stack-output.txt > target/bench-dm-stack.jsonl || true
python3 - target/bench-dm-stack.jsonl > target/bench-dm-stack.md <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
order = []
for r in rows:
    if r["config"] not in order:
        order.append(r["config"])
def st(v):
    return statistics.median(v), min(v), max(v)
bare = {k: st([r[k] for r in rows if r["config"] == "bare"])[0] for k in ("first", "again")} \
    if any(r["config"] == "bare" for r in rows) else None
print(f"| config | n | first write: median (min-max) | MiB/s | vs bare | spread | rewrite in place: median (min-max) | MiB/s | vs bare | rewrite / first |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for c in order:
    cells = [c, str(sum(1 for r in rows if r["config"] == c))]
    meds = {}
    for k in ("first", "again"):
        m, lo, hi = st([r[k] for r in rows if r["config"] == c])
        meds[k] = m
        cells += [f"{m:.2f} s ({lo:.2f}-{hi:.2f})", f"{256 / m:.1f}",
                  f"{bare[k] / m:.2f}x" if bare else "n/a"]
        if k == "first":
            cells.append(f"{(hi - lo) / m * 100:.0f}%")
    cells.append(f"{meds['first'] / meds['again']:.2f}x faster")
    print("| " + " | ".join(cells) + " |")
PY
cat target/bench-dm-stack.md
echo "bench-dm-stack: exit $status; raw in target/bench-dm-stack.jsonl, table in target/bench-dm-stack.md"
exit "$status"
