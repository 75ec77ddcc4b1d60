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
# Output: a markdown table (benches/bench-table.py) on the console and in target/bench-vm.md;
# the JSON document in target/bench-vm.json and the console in target/bench-vm-output.txt. Environment: ENGINE_VM_* as tests/vm/run.sh (memory 3G and a
# 2-hour timeout by default here), BENCH_VM_DISK_SIZE (default 24G, sparse), BENCH_PROFILE
# (cargo profile of the engine binary: release, the default, or debug).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-vm: must run as root" >&2; exit 1; }

# Build needs (libclang-dev, libdevmapper-dev) and the guest's tools (mkfs.ext4, mkfs.xfs).
scripts/install-deps.sh
profile=${BENCH_PROFILE:-release}
if [ "$profile" = release ]; then cargo build --release --quiet --bin engine; else cargo build --quiet --bin engine; fi
mkdir -p target
disk=$(pwd)/target/bench-vm-disk.img
rm -f "$disk"
truncate -s "${BENCH_VM_DISK_SIZE:-24G}" "$disk"
trap 'rm -f "$disk"' EXIT

cat > target/bench-vm-run.sh <<'GUEST'
#!/bin/bash
# In the guest: the virtio disk gets an ext4; `engine bench` puts each driver's scratch
# filesystem image on it. The JSON goes to the console between markers.
set -e
mkfs.ext4 -q -F /dev/vda
mkdir -p /var/tmp/bench-disk
mount /dev/vda /var/tmp/bench-disk
set +e
"target/$BENCH_PROFILE/engine" --data-root /var/tmp/bench-disk/root bench --dir /var/tmp/bench-disk \
  --format json "$@" > /var/tmp/bench.json
status=$?
echo "BENCH-JSON-BEGIN"
cat /var/tmp/bench.json
echo "BENCH-JSON-END"
umount /var/tmp/bench-disk
exit $status
GUEST
chmod +x target/bench-vm-run.sh

set +e
BENCH_PROFILE=$profile ENGINE_VM_DISK=$disk ENGINE_VM_MEM=${ENGINE_VM_MEM:-3G} ENGINE_VM_TIMEOUT=${ENGINE_VM_TIMEOUT:-7200} \
  tests/vm/run.sh -- target/bench-vm-run.sh "$@" 2>&1 | tee target/bench-vm-output.txt
status=${PIPESTATUS[0]}
set -e
sed -n '/^BENCH-JSON-BEGIN$/,/^BENCH-JSON-END$/p' target/bench-vm-output.txt | sed '1d;$d' > target/bench-vm.json
if [ -s target/bench-vm.json ]; then
  python3 benches/bench-table.py target/bench-vm.json > target/bench-vm.md
  cat target/bench-vm.md
fi
echo "bench-vm: exit $status; table in target/bench-vm.md, JSON in target/bench-vm.json, console in target/bench-vm-output.txt"
exit "$status"
