#!/usr/bin/env bash
# Runs COMMAND where device-mapper exists: directly when this kernel has /dev/mapper/control,
# otherwise inside a small VM (a stock Debian kernel booted under QEMU with software emulation,
# TCG) that sees this machine's root read-only over 9p, with tmpfs on /tmp, /run and /var/tmp.
#
#   tests/vm/run.sh [--] COMMAND [ARGS...]
#
# COMMAND runs as root in the current directory with the current environment; its output is
# streamed and its exit status is this script's. Paths under /tmp, /run and /var/tmp on the host
# are fresh tmpfs inside the VM; when the current directory is under one of them (a checkout
# in /tmp), it is shared with the guest through a mount of its own at the same path, so the
# command and the binaries it runs from there are seen as on the host.
#
# Environment:
#   ENGINE_VM_CACHE    cache for the kernel and initramfs (default /var/cache/engine-vm)
#   ENGINE_VM_TIMEOUT  seconds before the VM is killed (default 1200)
#   ENGINE_VM_MEM      guest memory (default 2G)        ENGINE_VM_SMP  guest CPUs (default 2)
#   ENGINE_VM_KERNEL   Debian kernel package version, e.g. 6.1.0-56-amd64 (default: the one
#                      linux-image-amd64 depends on; the first one cached is reused)
#   ENGINE_VM_FORCE=1  boot the VM even where device-mapper exists natively
#   ENGINE_VM_NO_INSTALL=1  never call apt-get (fail if a tool is missing)
#   ENGINE_VM_DISK     a raw image file on the host given to the guest as its virtio disk
#                      /dev/vda (host page cache bypassed), for measurements on a disk
#                      rather than on the guest's memory
#   ENGINE_VM_DISK2    a second one, /dev/vdb (e.g. a thin pool made directly on a disk)
#
# Exit status: COMMAND's; 124 on timeout; 125 when the VM could not boot or died (panic).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${ENGINE_VM_CACHE:-/var/cache/engine-vm}
timeout_s=${ENGINE_VM_TIMEOUT:-1200}
mem=${ENGINE_VM_MEM:-2G}
smp=${ENGINE_VM_SMP:-2}

log() { echo "vm: $*" >&2; }
die() { echo "vm: error: $*" >&2; exit 125; }

[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { sed -n '2,26p' "$0" >&2; exit 2; }

if [ -e /dev/mapper/control ] && [ "${ENGINE_VM_FORCE:-0}" != 1 ]; then
  # Device-mapper is here (another host, or we are already inside the VM).
  exec "$@"
fi

[ "$(id -u)" = 0 ] || die "must run as root (qemu shares / with passthrough security)"

# --- tools -----------------------------------------------------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep 'install ok installed' >/dev/null || need_pkgs+=(busybox-static)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v depmod >/dev/null || need_pkgs+=(kmod)
command -v timeout >/dev/null || need_pkgs+=(coreutils)
if ((${#need_pkgs[@]})); then
  [ "${ENGINE_VM_NO_INSTALL:-0}" != 1 ] || die "missing packages: ${need_pkgs[*]}"
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- kernel ----------------------------------------------------------------------------------
mkdir -p "$cache"
kver=${ENGINE_VM_KERNEL:-}
if [ -z "$kver" ] && [ -s "$cache/kernel-version" ]; then
  kver=$(cat "$cache/kernel-version")
fi
if [ -z "$kver" ]; then
  pick() { apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | sed -n 1p; }
  kver=$(pick)
  if [ -z "$kver" ]; then apt-get update -qq; kver=$(pick); fi
  [ -n "$kver" ] || die "cannot find the Debian kernel package (apt-cache depends linux-image-amd64)"
fi
kdir=$cache/kernel-$kver
if [ ! -e "$kdir/.done" ]; then
  log "downloading linux-image-$kver"
  rm -rf "$kdir" "$cache/deb"
  mkdir -p "$cache/deb"
  (cd "$cache/deb" && apt-get download -qq "linux-image-$kver" 2>&1 | grep -v 'unsandboxed' >&2 || true)
  deb=$(ls "$cache"/deb/linux-image-"$kver"_*.deb 2>/dev/null | head -n1)
  if [ -z "$deb" ]; then
    apt-get update -qq
    (cd "$cache/deb" && apt-get download -qq "linux-image-$kver")
    deb=$(ls "$cache"/deb/linux-image-"$kver"_*.deb 2>/dev/null | head -n1)
  fi
  [ -n "$deb" ] || die "apt-get download linux-image-$kver failed"
  dpkg -x "$deb" "$kdir"
  depmod -b "$kdir" "$kver"
  rm -rf "$cache/deb"
  touch "$kdir/.done"
fi
echo "$kver" > "$cache/kernel-version"
vmlinuz=$kdir/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || die "no $vmlinuz in the kernel package"

# --- initramfs -------------------------------------------------------------------------------
# Modules the guest loads (dependencies are added from modules.dep; built-ins are skipped).
modules=(virtio_pci virtio_console virtio_blk 9pnet_virtio 9p loop crc32c_generic libcrc32c
  dm_mod dm_bufio dm_persistent_data dm_bio_prison dm_thin_pool ext4 overlay xfs)
stamp=$(cat "$here/init" "$here/mkinitramfs.sh" /bin/busybox <(echo "$kver ${modules[*]}") | sha256sum | cut -c1-16)
initrd=$cache/initramfs-$kver-$stamp.cpio.gz
if [ ! -s "$initrd" ]; then
  log "building $initrd"
  rm -f "$cache"/initramfs-"$kver"-*.cpio.gz
  "$here/mkinitramfs.sh" "$kdir" "$kver" "$initrd" "${modules[@]}"
fi

# --- run -------------------------------------------------------------------------------------
job=$(mktemp -d "${TMPDIR:-/tmp}/engine-vm.XXXXXX")
qemu_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
  rm -rf "$job"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cwd=$(pwd -P)
extra_share=()
if [ -n "${ENGINE_VM_DISK:-}" ]; then
  [ -f "$ENGINE_VM_DISK" ] || die "ENGINE_VM_DISK=$ENGINE_VM_DISK is not a file"
  extra_share+=(-drive "file=$ENGINE_VM_DISK,format=raw,if=virtio,cache=none,discard=unmap")
fi
if [ -n "${ENGINE_VM_DISK2:-}" ]; then
  [ -n "${ENGINE_VM_DISK:-}" ] || die "ENGINE_VM_DISK2 needs ENGINE_VM_DISK (it is the second disk, /dev/vdb)"
  [ -f "$ENGINE_VM_DISK2" ] || die "ENGINE_VM_DISK2=$ENGINE_VM_DISK2 is not a file"
  extra_share+=(-drive "file=$ENGINE_VM_DISK2,format=raw,if=virtio,cache=none,discard=unmap")
fi
case "$cwd" in
  /tmp|/tmp/*|/run|/run/*|/var/tmp|/var/tmp/*|/dev/shm|/dev/shm/*)
    # Hidden by the guest's tmpfs: share it on its own (init mounts it over the tmpfs).
    echo "$cwd" > "$job/cwd-share"
    extra_share+=(-virtfs "local,path=$cwd,mount_tag=cwd,security_model=passthrough,multidevs=remap") ;;
esac
{
  echo '# generated by tests/vm/run.sh'
  export -p | grep -Ev '^declare -x (PWD|OLDPWD|SHLVL|_|TERM|SSH_[A-Z_]*|DISPLAY)(=|$)' || true
  echo 'export ENGINE_IN_VM=1'
  printf 'cd %q || exit 126\n' "$cwd"
  printf 'exec'
  printf ' %q' "$@"
  echo
} > "$job/cmd.sh"

log "booting $kver (TCG, $mem, $smp cpus, timeout ${timeout_s}s): $*"
start=$(date +%s)
set +e
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
  -accel tcg -m "$mem" -smp "$smp" -nographic -no-reboot -nic none \
  -kernel "$vmlinuz" -initrd "$initrd" \
  -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
  -virtfs local,path="$job",mount_tag=job,security_model=passthrough,multidevs=remap \
  "${extra_share[@]}" \
  </dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$job/console.log"
qemu_status=${PIPESTATUS[0]}
set -e
log "VM ran $(( $(date +%s) - start ))s"

if [ "$qemu_status" = 124 ] || [ "$qemu_status" = 137 ]; then
  log "error: timed out after ${timeout_s}s (set ENGINE_VM_TIMEOUT); the VM was killed"
  exit 124
fi
rc=$(cat "$job/rc" 2>/dev/null || sed -n 's/^ENGINE-VM-EXIT=\([0-9]*\)$/\1/p' "$job/console.log" | tail -n1)
if [ -z "$rc" ]; then
  if grep -q 'Kernel panic' "$job/console.log"; then
    log "error: the guest kernel panicked (see the output above)"
  else
    log "error: the VM exited (qemu status $qemu_status) without reporting COMMAND's exit status"
  fi
  exit 125
fi
exit "$rc"
