#!/usr/bin/env bash
# All three storage drivers in one table: `engine bench` (the method of docs/benchmarks.md: a
# fresh loop-mounted ext4 per driver, the same program in a container writing to the
# container's root or to a bind-mounted bare directory) inside the VM of tests/vm/run.sh,
# where device-mapper exists, for overlay2, devicemapper and vfs on the same kernel and the
# same virtual disk: a raw image file given to the guest as a virtio disk (host page cache
# bypassed), not the guest's memory. QEMU TCG (software emulation): the figures compare the
# drivers with each other and with the limit, not with the host's table.
#
#   sudo scripts/bench-vm.sh [ENGINE-BENCH-ARGS...]      e.g. --quick, --reps 3, --backing-fs xfs
#
# A second virtual disk (BENCH_VM_POOL=1, the default) carries a thin pool made directly on it,
# and devicemapper runs once more on it with dm.thinpooldev (no loop files).
#
# Output: docs/benchmarks-vm.json (both runs' JSON, the host's load per suite, the command)
# and docs/benchmarks-vm.md (the generated tables: benches/bench-doc.py), then
# docs/benchmarks.md reassembled (benches/assemble.py); raw files in target/bench-vm-raw,
# the console in target/bench-vm-output.txt. Environment: ENGINE_VM_* as tests/vm/run.sh
# (memory 3G and a 2-hour timeout by default here), BENCH_VM_DISK_SIZE (default 24G, sparse),
# BENCH_VM_POOL_SIZE (12G), BENCH_VM_POOL=0 (no second disk), BENCH_VM_OUT (output path
# without extension, default docs/benchmarks-vm), BENCH_PROFILE (cargo profile of the engine
# binary: release, the default, or debug), BENCH_VM_ENGINE (an engine binary to use as it is,
# instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-vm: must run as root" >&2; exit 1; }

# Build needs (libclang-dev, libdevmapper-dev) and the guest's tools (mkfs.ext4, mkfs.xfs).
scripts/install-deps.sh
profile=${BENCH_PROFILE:-release}
if [ -n "${BENCH_VM_ENGINE:-}" ]; then
  # A binary built earlier (e.g. copied aside so that a build meanwhile does not replace it
  # under the running VM): used as it is.
  [ -x "$BENCH_VM_ENGINE" ] || { echo "bench-vm: BENCH_VM_ENGINE=$BENCH_VM_ENGINE is not an executable" >&2; exit 1; }
  engine_bin=$(realpath "$BENCH_VM_ENGINE")
elif [ "$profile" = release ]; then
  cargo build --release --quiet --bin engine
  engine_bin=$(pwd)/target/release/engine
else
  cargo build --quiet --bin engine
  engine_bin=$(pwd)/target/debug/engine
fi
mkdir -p target
raw=target/bench-vm-raw
rm -rf "$raw"
mkdir -p "$raw"
disk=$(pwd)/target/bench-vm-disk.img
pool_disk=$(pwd)/target/bench-vm-pool.img
rm -f "$disk" "$pool_disk"
truncate -s "${BENCH_VM_DISK_SIZE:-24G}" "$disk"
pool=()
if [ "${BENCH_VM_POOL:-1}" = 1 ]; then
  truncate -s "${BENCH_VM_POOL_SIZE:-12G}" "$pool_disk"
  pool=(ENGINE_VM_DISK2="$pool_disk")
fi
sampler=
trap '[ -n "$sampler" ] && kill "$sampler" 2>/dev/null; rm -f "$disk" "$pool_disk"' EXIT

cat > target/bench-vm-run.sh <<'GUEST'
#!/bin/bash
# In the guest: the virtio disk /dev/vda gets an ext4; `engine bench` puts each driver's
# scratch filesystem image on it. With a second disk (/dev/vdb), devicemapper once more on a
# thin pool made directly on that disk (dm.thinpooldev, no loop files: the production
# set-up), 64K blocks and no block zeroing as the engine's loop-lvm pool, its data root and
# the limit's directory on /dev/vda's ext4 as before. Each JSON goes to the console between
# markers; BENCH-PHASE lines tell the host which run the progress lines belong to.
set -e
mkfs.ext4 -q -F /dev/vda
mkdir -p /var/tmp/bench-disk
mount /dev/vda /var/tmp/bench-disk
echo "BENCH-KERNEL $(uname -r)"
engine=$BENCH_ENGINE_BIN
# Progress lines stamped with the guest's clock (set from the host's at boot), which the host
# matches with its load samples afterwards: the console reaches the host in bursts.
stamp() { while IFS= read -r l; do echo "BENCH-AT $(date +%s) $l"; done >&2; }
set +e
echo "BENCH-AT $(date +%s) BENCH-PHASE drivers"
"$engine" --data-root /var/tmp/bench-disk/root bench --dir /var/tmp/bench-disk \
  --format json "$@" 2>&1 > /var/tmp/bench.json | stamp
status=${PIPESTATUS[0]}
echo "BENCH-AT $(date +%s) BENCH-END drivers"
echo "BENCH-JSON-BEGIN drivers"
cat /var/tmp/bench.json
echo "BENCH-JSON-END drivers"
if [ -b /dev/vdb ]; then
  echo "BENCH-AT $(date +%s) BENCH-PHASE thinpooldev"
  sectors=$(blockdev --getsz /dev/vdb)
  meta=$((256 * 2048))   # 256 MiB of metadata, the rest data
  dd if=/dev/zero of=/dev/vdb bs=1M count=1 oflag=direct status=none
  # Devices by major:minor: the guest has no udev to make /dev/mapper nodes.
  devno() { dmsetup info -c --noheadings -o major,minor "$1" | tr -d ' '; }
  dmsetup create bench-meta --table "0 $meta linear /dev/vdb 0" &&
    dmsetup create bench-data --table "0 $((sectors - meta)) linear /dev/vdb $meta" &&
    dmsetup create bench-pool --table "0 $((sectors - meta)) thin-pool $(devno bench-meta) $(devno bench-data) 128 32768 1 skip_block_zeroing"
  s=$?
  if [ "$s" = 0 ]; then
    "$engine" --data-root /var/tmp/bench-disk/root-pool --storage-driver devicemapper \
      --storage-opt dm.thinpooldev=bench-pool bench --dir /var/tmp/bench-disk \
      --format json "$@" 2>&1 > /var/tmp/bench-pool.json | stamp
    s=${PIPESTATUS[0]}
  fi
  echo "BENCH-AT $(date +%s) BENCH-END thinpooldev"
  [ "$status" = 0 ] && status=$s
  echo "BENCH-JSON-BEGIN thinpooldev"
  cat /var/tmp/bench-pool.json
  echo "BENCH-JSON-END thinpooldev"
  dmsetup remove bench-pool; dmsetup remove bench-data; dmsetup remove bench-meta
  rm -f /var/tmp/bench-pool.json
fi
umount /var/tmp/bench-disk
exit $status
GUEST
chmod +x target/bench-vm-run.sh

# The host's load while the VM runs (TCG needs both host CPUs; others' builds share them),
# sampled every 10 s, and matched afterwards with the guest's stamped progress lines: each
# suite's start (its "making a fresh" line) and each run's end, as compare.sh does for the host.
(while :; do echo "$(date +%s) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 10; done) > "$raw/load-samples.txt" &
sampler=$!
started=$(date -u '+%Y-%m-%d %H:%M UTC')
set +e
env BENCH_ENGINE_BIN="$engine_bin" ENGINE_VM_DISK="$disk" "${pool[@]}" ENGINE_VM_MEM="${ENGINE_VM_MEM:-3G}" \
  ENGINE_VM_TIMEOUT="${ENGINE_VM_TIMEOUT:-7200}" tests/vm/run.sh -- target/bench-vm-run.sh "$@" 2>&1 |
  tee target/bench-vm-output.txt
status=${PIPESTATUS[0]}
set -e
kill "$sampler" 2>/dev/null || true
sampler=
sed -n 's/.*BENCH-AT \([0-9]*\) \(.*\)$/\1 \2/p' target/bench-vm-output.txt | awk '
  $2 == "BENCH-PHASE" { phase = $3 }
  $2 == "bench:" && $4 == "making" { d = $3; sub(/:$/, "", d); print phase, d, "start", $1 }
  $2 == "BENCH-END" { print $3, "-", "end", $1 }' > "$raw/load-marks.txt"
for phase in drivers thinpooldev; do
  sed -n "/^BENCH-JSON-BEGIN $phase\$/,/^BENCH-JSON-END $phase\$/p" target/bench-vm-output.txt | sed '1d;$d' > "$raw/$phase.json"
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$raw/$phase.json" 2>/dev/null || rm -f "$raw/$phase.json"
done
if [ -s "$raw/drivers.json" ]; then
  # docs/benchmarks-vm.json (everything measured) and docs/benchmarks-vm.md (the generated
  # tables), then docs/benchmarks.md reassembled around them.
  {
    echo "host $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)), kernel $(uname -r)"
    echo "guest QEMU TCG (software emulation), ${ENGINE_VM_SMP:-2} vCPUs, ${ENGINE_VM_MEM:-3G}, kernel $(sed -n 's/.*BENCH-KERNEL //p' target/bench-vm-output.txt | head -n1);" \
      "/dev/vda (scratch images) and /dev/vdb (the thin pool) raw sparse files on the host's $(findmnt -n -o FSTYPE -T target) on $(findmnt -n -o SOURCE -T target), cache=none"
  } > "$raw/meta.txt"
  python3 benches/bench-doc.py "$raw" --runs drivers,thinpooldev --started "$started" \
    --command "sudo BENCH_PROFILE=$profile scripts/bench-vm.sh $*" --profile "$profile" \
    --title "All drivers in one VM: same kernel, same kind of virtual disk" --out "${BENCH_VM_OUT:-docs/benchmarks-vm}"
  # docs/benchmarks.md includes docs/benchmarks-vm.md: reassembled only when that was written.
  [ -n "${BENCH_VM_OUT:-}" ] || python3 benches/assemble.py
fi
echo "bench-vm: exit $status; tables in ${BENCH_VM_OUT:-docs/benchmarks-vm}.md, raw JSON in $raw, console in target/bench-vm-output.txt"
exit "$status"
