#!/usr/bin/env bash
# The storage benchmarks (benches/storage.rs) on devicemapper, where device-mapper exists: in
# the VM of tests/vm/run.sh (this kernel has none; QEMU software emulation, so the figures
# are only comparable with each other, not with the host's), or directly on a host that has it.
# The pool is loop-lvm: sparse files in a fresh data root on a scratch ext4.
#
#   sudo scripts/bench-devicemapper.sh [CRITERION-ARGS...]          quick sizes (the default here)
#   sudo ENGINE_BENCH_QUICK=0 scripts/bench-devicemapper.sh         the full sizes: needs hours
#                                                                   under TCG and ~6 GiB guest RAM
#
# Output: the console, also saved to target/bench-devicemapper-output.txt (criterion's HTML
# report is not kept: the guest sees the repository read-only).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-devicemapper: must run as root" >&2; exit 1; }

# Build needs (libclang-dev, libdevmapper-dev) and the guest's tools.
scripts/install-deps.sh

quick=${ENGINE_BENCH_QUICK:-1}
mkdir -p target
bin=$(cargo bench --bench storage --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*storage[^"]*\)".*/\1/p' | tail -n1)
[ -n "$bin" ] || { cargo bench --bench storage --no-run; exit 1; }
bin=${bin#"$(pwd)/"}

cat > target/bench-devicemapper-run.sh <<'GUEST'
#!/bin/bash
# Runs in the guest: the guest's /tmp and /var/tmp are tmpfs (memory), so the data root goes
# on an ext4 scratch over a sparse loop file there (mounted with discard, so space freed in
# ext4 goes back to the guest's memory).
set -e
bin=$1; shift
truncate -s 16G /tmp/engine-bench.img
mkfs.ext4 -q -F /tmp/engine-bench.img
mkdir -p /var/tmp/engine-bench-scratch
mount -o loop,discard /tmp/engine-bench.img /var/tmp/engine-bench-scratch
export ENGINE_BENCH_TMPDIR=/var/tmp/engine-bench-scratch ENGINE_BENCH_DRIVERS=devicemapper
export CRITERION_HOME=/var/tmp/engine-bench-scratch/criterion
set +e
"$bin" --bench --noplot "$@"
status=$?
umount /var/tmp/engine-bench-scratch
rm -f /tmp/engine-bench.img
exit $status
GUEST
chmod +x target/bench-devicemapper-run.sh

mem=${ENGINE_VM_MEM:-$([ "$quick" = 0 ] && echo 6G || echo 3G)}
timeout_s=${ENGINE_VM_TIMEOUT:-$([ "$quick" = 0 ] && echo 14400 || echo 3600)}
set +e
ENGINE_BENCH_QUICK=$quick ENGINE_VM_MEM=$mem ENGINE_VM_TIMEOUT=$timeout_s \
  tests/vm/run.sh -- target/bench-devicemapper-run.sh "$bin" "$@" 2>&1 \
  | tee target/bench-devicemapper-output.txt
status=${PIPESTATUS[0]}
set -e
echo "bench-devicemapper: exit $status; output in target/bench-devicemapper-output.txt"
exit "$status"
