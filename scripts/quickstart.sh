#!/usr/bin/env bash
# Sets up a fresh machine (as root), builds engine, and imports a layer into a scratch data root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
root=${ENGINE_DEMO_ROOT:-/tmp/engine-demo}
engine=(target/release/engine --data-root "$root")
"${engine[@]}" info
tar -C / -cf /tmp/engine-demo-layer.tar etc/hostname etc/os-release
"${engine[@]}" import -c 'CMD ["/bin/sh"]' /tmp/engine-demo-layer.tar demo:latest
"${engine[@]}" images
"${engine[@]}" history demo
"${engine[@]}" layer ls
