#!/usr/bin/env bash
# Builds the VM's initramfs: static busybox, tests/vm/init, and the kernel modules asked for
# plus their dependencies (from modules.dep), decompressed, with a load order.
#   mkinitramfs.sh KERNEL_TREE KVER OUT.cpio.gz MODULE...
set -euo pipefail
tree=$1 kver=$2 out=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
moddir=$tree/lib/modules/$kver
[ -f "$moddir/modules.dep" ] || { echo "mkinitramfs: no $moddir/modules.dep" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,lib/modules,proc,sys,dev,host}
cp /bin/busybox "$root/bin/busybox"
cp "$here/init" "$root/init"
chmod 755 "$root/init"

norm() { echo "$1" | tr '-' '_'; }
# name -> path (relative to moddir) and path -> its dependency list, from modules.dep
declare -A path_of deps_of
while IFS= read -r line; do
  mod=${line%%:*}
  base=$(basename "$mod"); base=${base%%.ko*}
  path_of[$(norm "$base")]=$mod
  deps_of[$mod]=${line#*:}
done < "$moddir/modules.dep"

order=()
declare -A seen
add_path() {
  local p=$1
  [ -n "${seen[$p]:-}" ] && return
  seen[$p]=1
  # modules.dep lists the full closure, deepest last: load it in reverse.
  local d rev=()
  for d in ${deps_of[$p]}; do rev=("$d" "${rev[@]}"); done
  for d in "${rev[@]}"; do add_path "$d"; done
  order+=("$p")
}
for want in "$@"; do
  n=$(norm "$want")
  if [ -n "${path_of[$n]:-}" ]; then
    add_path "${path_of[$n]}"
  elif grep -Eq "/${want//_/[-_]}\.ko" "$moddir/modules.builtin" 2>/dev/null; then
    :  # built into the kernel
  else
    echo "mkinitramfs: warning: module $want not found in $kver" >&2
  fi
done

: > "$root/modules.order"
for p in "${order[@]}"; do
  base=$(basename "$p"); name=${base%%.ko*}
  case "$base" in
    *.ko.xz) xz -dc "$moddir/$p" > "$root/lib/modules/$name.ko" ;;
    *.ko.zst) zstd -qdc "$moddir/$p" > "$root/lib/modules/$name.ko" ;;
    *.ko.gz) gzip -dc "$moddir/$p" > "$root/lib/modules/$name.ko" ;;
    *) cp "$moddir/$p" "$root/lib/modules/$name.ko" ;;
  esac
  echo "$name" >> "$root/modules.order"
done

tmp=$out.tmp.$$
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -9 > "$tmp"
mv "$tmp" "$out"
echo "mkinitramfs: $(wc -l < "$root/modules.order") modules, $(du -h "$out" | cut -f1)" >&2
