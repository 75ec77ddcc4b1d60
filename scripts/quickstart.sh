#!/usr/bin/env bash
# Sets up a fresh Debian machine (as root), builds engine, and runs the main job in a scratch
# data root: hello-world, then a busybox image made from Debian's busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
root=${ENGINE_DEMO_ROOT:-/tmp/engine-demo}
engine=(target/release/engine --data-root "$root")

"${engine[@]}" run hello-world

# A busybox rootfs: the static binary and its applet links.
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"
tar -C "$rootfs" -cf - . | "${engine[@]}" import -c 'CMD ["/bin/sh"]' - busybox:latest
"${engine[@]}" run --rm busybox sh -c 'echo "hello from $(hostname), pid $$"; ls /'
"${engine[@]}" images
"${engine[@]}" info
