#!/usr/bin/env bash
# Builds the devicemapper driver's tests on this host and runs them where device-mapper
# exists: inside the VM of tests/vm/run.sh (this kernel has none), or directly where it does.
# Every dm_* test must run there: a SKIP is a failure (ENGINE_REQUIRE_DM_TESTS=1).
#   scripts/test-devicemapper.sh [TEST-FILTER...]
set -euo pipefail
cd "$(dirname "$0")/.."

# Build needs (bindgen, devmapper.pc) and the guest's tools: the project's one install list.
scripts/install-deps.sh

mkdir -p target
cargo test -p devmapper --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' > target/devicemapper-tests.txt
[ -s target/devicemapper-tests.txt ] || { cargo test -p devmapper --no-run; exit 1; }
cargo build --quiet --bin engine

# The guest runs each binary; --test-threads=2 matches the VM's CPUs.
cat > target/devicemapper-run.sh <<'GUEST'
#!/bin/bash
export ENGINE_REQUIRE_DM_TESTS=1 ENGINE_REQUIRE_ROOT_TESTS=1 RUST_BACKTRACE=1
# The guest's /tmp and /var/tmp are tmpfs, which on this 6.1 kernel takes no user.* xattrs:
# give the tests a scratch ext4 (on a loop file) for their temp dirs.
truncate -s 4G /tmp/engine-scratch.img
mkfs.ext4 -q -F /tmp/engine-scratch.img
mkdir -p /var/tmp/engine-scratch
mount -o loop /tmp/engine-scratch.img /var/tmp/engine-scratch
export TMPDIR=/var/tmp/engine-scratch ENGINE_TEST_TMPDIR=/var/tmp/engine-scratch
status=0
while read -r bin; do
  echo "== $(basename "$bin")"
  "$bin" --test-threads=2 --color never "$@" || status=1
done < target/devicemapper-tests.txt

# The engine end to end on devicemapper: the pool shows in `info`, and a container runs on a
# thin snapshot (without a network: storage is what this tier tests, and netavark in the
# guest fails with "invalid version number").
echo "== engine --storage-driver devicemapper"
engine=(target/debug/engine --data-root "$TMPDIR/engine-root" --storage-driver devicemapper
        --storage-opt dm.loopdatasize=2G --storage-opt dm.loopmetadatasize=128M
        --storage-opt dm.basesize=256M)
info=$("${engine[@]}" info) || status=1
echo "$info"
for key in "Storage Driver: devicemapper" " Pool Name: " " Pool Blocksize: " " Base Device Size: " \
           " Data Space Total: " " Metadata Space Available: " " Data loop file: "; do
  grep -qF "$key" <<<"$info" || { echo "engine info on devicemapper lacks \"$key\""; status=1; }
done
# --network none: the guest's minimal kernel has no netfilter for the default bridge.
hello=$("${engine[@]}" run --rm --network none hello-world) || status=1
grep -q "devicemapper storage driver" <<<"$hello" || { echo "hello-world did not run on devicemapper: $hello"; status=1; }
# save reproduces the layer from the thin snapshot byte for byte (its tar-split); load
# brings it back onto a new one.
before=$("${engine[@]}" images -q --no-trunc hello-world)
"${engine[@]}" save -o "$TMPDIR/hello.tar" hello-world || status=1
"${engine[@]}" rmi hello-world >/dev/null || status=1
"${engine[@]}" load -i "$TMPDIR/hello.tar" || status=1
after=$("${engine[@]}" images -q --no-trunc hello-world)
[ -n "$before" ] && [ "$before" = "$after" ] || { echo "save/load on devicemapper changed the image: $before -> $after"; status=1; }
"${engine[@]}" run --rm --network none hello-world | grep -q "devicemapper storage driver" || { echo "the loaded hello-world did not run"; status=1; }
"${engine[@]}" rmi hello-world >/dev/null || status=1
echo "engine on devicemapper: $([ $status = 0 ] && echo ok || echo FAILED)"
exit $status
GUEST
chmod +x target/devicemapper-run.sh

set +e
ENGINE_VM_MEM=${ENGINE_VM_MEM:-3G} tests/vm/run.sh -- target/devicemapper-run.sh "$@" 2>&1 | tee target/devicemapper-output.txt
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '[0-9]+ passed' target/devicemapper-output.txt | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' target/devicemapper-output.txt | awk '{s+=$1} END {print s+0}')
skipped=$(grep -c '^SKIP: ' target/devicemapper-output.txt || true)
echo "devicemapper: $passed passed, $failed failed, $skipped skipped"
exit "$status"
