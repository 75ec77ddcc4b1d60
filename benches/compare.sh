#!/usr/bin/env bash
# Side by side, in one run, one method: the write workloads in containers of `engine` and of
# Docker 20.10 (dockerd started here), on overlay2 and vfs, each against the limit measured
# the same way: the same program in the same kind of container, writing to a bind-mounted
# directory of the same filesystem instead of the container's root. Every suite (bare, and
# each contender on each driver) runs on a fresh ext4 loop-mounted from a sparse image in
# BENCH_TMPDIR. Plus `run --rm IMAGE true` latency (crun running an OCI bundle of the same
# rootfs is its floor), `load -i` and `pull` (from a loopback docker-registry) of a 150 MB /
# 10,000-file image (engine's peak RSS too), commit after the workloads, and rm. Writes
# docs/benchmarks.md (medians and ratios) and docs/benchmarks.png.
#
#   sudo benches/compare.sh                  the benchmark (20-30 minutes on 2 cores)
#   sudo BENCH_QUICK=1 benches/compare.sh    smoke run: small sizes, few repetitions
#
# Environment:
#   BENCH_QUICK=1        small sizes (benches/workloads/mod.rs Sizes::quick) and 2 repetitions
#   BENCH_DRIVERS        drivers to compare (default "overlay2 vfs")
#   BENCH_REPS           fresh containers running the workloads, per contender (5; quick 2)
#   BENCH_RUN_REPS       `run --rm IMAGE true` repetitions (20; quick 5)
#   BENCH_LOAD_REPS      `load -i` repetitions (3; quick 1)
#   BENCH_TMPDIR         where the suites' filesystem images go, on the disk under test
#                        (default /var/tmp)
#   BENCH_OUT            output path without extension (default docs/benchmarks)
#   BENCH_PROFILE        cargo profile of the binaries: release (default), or debug for a smoke run
#   BENCH_BUFFERED_LOOP=1  the suites' loop devices buffered (the default is direct I/O)
#
# On a fresh Debian machine it installs what it needs (docker.io, docker-registry, crun,
# busybox-static, python3-matplotlib). The workloads are benches/workloads/mod.rs, run by
# `engine bench --run-workloads` inside the containers (the program bind-mounted read-only
# with its libraries: see cli/src/commands/bench.rs). Everything it starts (dockerd, containers)
# is stopped, its filesystems unmounted and its scratch directory removed at exit, also on
# failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

die() { echo "compare: error: $*" >&2; exit 1; }
log() { echo "compare: $*" >&2; }
[ "$(id -u)" = 0 ] || die "must run as root (containers, mounts, dockerd)"

quick=${BENCH_QUICK:-0}
[ "$quick" = 0 ] && quick=
drivers=${BENCH_DRIVERS:-overlay2 vfs}
reps=${BENCH_REPS:-$([ -n "$quick" ] && echo 2 || echo 5)}
run_reps=${BENCH_RUN_REPS:-$([ -n "$quick" ] && echo 5 || echo 20)}
load_reps=${BENCH_LOAD_REPS:-$([ -n "$quick" ] && echo 1 || echo 3)}
tmp=${BENCH_TMPDIR:-/var/tmp}
out=${BENCH_OUT:-docs/benchmarks}
qflag=()
[ -n "$quick" ] && qflag=(--quick)
py=/usr/bin/python3
command -v "$py" >/dev/null || py=python3

# --- what it needs -------------------------------------------------------------------------
need=()
command -v dockerd >/dev/null && [ -x /usr/bin/docker ] || need+=(docker.io)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v crun >/dev/null || need+=(crun)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
"$py" -c 'import matplotlib' 2>/dev/null || need+=(python3-matplotlib)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || log "warning: apt-get install ${need[*]} failed"
fi
if ! "$py" -c 'import matplotlib' 2>/dev/null; then
  "$py" -m pip install -q matplotlib 2>/dev/null \
    || "$py" -m pip install -q --break-system-packages matplotlib 2>/dev/null \
    || log "warning: no matplotlib: the chart will be missing"
fi
command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
command -v crun >/dev/null || die "crun not found (apt-get install crun)"
docker_bin=/usr/bin/docker
[ -x "$docker_bin" ] || docker_bin=$(command -v docker) || die "docker client not found"

command -v cargo >/dev/null || die "cargo not found (under sudo: sudo env PATH=\"\$PATH\" benches/compare.sh)"
profile=${BENCH_PROFILE:-release}
log "building engine and the workload tool ($profile)"
if [ "$profile" = release ]; then
  cargo build --release --quiet --bin engine --example workload
else
  cargo build --quiet --bin engine --example workload
fi
engine_bin=$repo/target/$profile/engine
workload_bin=$repo/target/$profile/examples/workload

load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- scratch dir and cleanup ---------------------------------------------------------------
[ "$(stat -f -c %T "$tmp")" = tmpfs ] && log "warning: $tmp is tmpfs: these are memory figures (set BENCH_TMPDIR)"
work=$(mktemp -d "$tmp/engine-compare.XXXXXX")
results=$work/results.jsonl
dockerd_pid=
kill_under_work() {
  # Processes with our scratch dir on their command line (containerd, shims, engine
  # monitors), by pid.
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qF "$work"; then
      kill -9 "${p#/proc/}" 2>/dev/null || true
    fi
  done
}
unmount_under() {
  awk -v w="$1" 'index($5, w) == 1 { print length($5), $5 }' /proc/self/mountinfo \
    | sort -rn | cut -d' ' -f2- | while read -r mp; do umount -l "$mp" 2>/dev/null || true; done
}
unmount_under_work() { unmount_under "$work"; }
stop_dockerd() {
  [ -n "$dockerd_pid" ] || return 0
  kill "$dockerd_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$dockerd_pid" 2>/dev/null || true
  dockerd_pid=
}
cleanup() {
  set +e
  stop_dockerd
  for d in $drivers; do
    [ -d "$work/engine-$d/root" ] && "$engine_bin" --data-root "$work/engine-$d/root" --storage-driver "$d" \
      ps -aq 2>/dev/null | xargs -r "$engine_bin" --data-root "$work/engine-$d/root" --storage-driver "$d" rm -f >/dev/null 2>&1
  done
  kill_under_work
  sleep 0.5
  unmount_under_work
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

timed() { "$py" "$repo/benches/timeit.py" "$results" "$@"; }
# A command, then syncfs on the disk under test: for the steps that leave written data behind
# (load, commit), so each contender pays for its own writeback and not the next step. Other
# timed steps start after an untimed sync.
durable=(sh -c '"$@" >/dev/null && exec sync -f "$0"' "$work")

# --- inputs --------------------------------------------------------------------------------
log "writing the image layer and the 150 MB load image ${quick:+(quick sizes)}"
"$workload_bin" base-tar "$work/base.tar" --busybox /bin/busybox "${qflag[@]}"
"$workload_bin" apply-tar "$work/apply.tar" "${qflag[@]}"
# The load image: a `docker save` format archive of one layer (engine writes Docker's format;
# tests/images.rs checks dockerd loads it).
prep=("$engine_bin" --data-root "$work/prep" --storage-driver vfs)
"${prep[@]}" import "$work/apply.tar" bench-load:latest >/dev/null
"${prep[@]}" save -o "$work/load.tar" bench-load:latest
"${prep[@]}" rmi bench-load:latest >/dev/null
rm -rf "$work/prep"
load_bytes=$(stat -c %s "$work/load.tar")

# The pull image: the same image, pushed by engine to a registry of our own on loopback
# (which Docker, as engine, reaches over plain HTTP without configuration).
reg_port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
  "$work/registry/data" "$reg_port" > "$work/registry/config.yml"
docker-registry serve "$work/registry/config.yml" > "$work/registry/log" 2>&1 &
for _ in $(seq 100); do
  "$py" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$reg_port/v2/')" 2>/dev/null && break
  sleep 0.1
done
pull_ref=127.0.0.1:$reg_port/bench-load:latest
"${prep[@]}" load -i "$work/load.tar" >/dev/null
"${prep[@]}" tag bench-load:latest "$pull_ref"
"${prep[@]}" push -q "$pull_ref" >/dev/null
"${prep[@]}" rmi bench-load:latest "$pull_ref" >/dev/null

# --- one fresh filesystem per suite ----------------------------------------------------------
# Each suite (the bare one, and each contender on each driver) gets an ext4 made for it on a
# sparse image in $tmp, loop-mounted, so earlier deletes and other activity on the disk do not
# bleed into its rows (an ext4 without a journal, as this machine's root, crawls through
# inode allocation for minutes after deletes: see docs/benchmarks.md).
fs_size=$([ -n "$quick" ] && echo 1G || echo 4G)
suite_load() { # $1 suite, $2 start|end: the load average, for the report
  printf '{"metric":"loadavg","suite":"%s","when":"%s","load":"%s"}\n' "$1" "$2" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$results"
}
suite_fs() {
  local img=$work/$1.img mnt=$work/$1
  suite_load "$1" start
  # Allocated up front: no workload pays for allocating its region in the filesystem below.
  fallocate -l "$fs_size" "$img" || die "no room for a $fs_size filesystem image in $tmp (set BENCH_TMPDIR)"
  # nodiscard: mkfs's discard punches holes in an image file, undoing the allocation above.
  mkfs.ext4 -q -F -E nodiscard "$img"
  mkdir -p "$mnt"
  # noinit_itable: no lazy inode-table zeroing in the background of the measurements.
  mount -o loop,noinit_itable "$img" "$mnt"
  # The loop device in direct-I/O mode: a buffered loop caches each block twice, and a write
  # costs more on blocks not written since the image was made than on blocks still cached from
  # an earlier write, which the limit's and the driver's files did not meet alike
  # (docs/benchmarks.md). BENCH_BUFFERED_LOOP=1 keeps it buffered.
  [ "${BENCH_BUFFERED_LOOP:-0}" = 1 ] || losetup --direct-io=on "$(findmnt -no SOURCE "$mnt")"
}
drop_fs() {
  suite_load "$1" end
  umount "$work/$1" 2>/dev/null || umount -l "$work/$1"
  rmdir "$work/$1"
  rm -f "$work/$1.img"
}

# The workload program, as every contender's containers run it: engine's `bench
# --run-workloads` (the code of benches/workloads/mod.rs), bind-mounted read-only with its
# libraries and started through its own loader; the limit is the same program in the same
# kind of container writing to a bind-mounted directory of the suite's filesystem.
prog=$("$engine_bin" bench --print-program)
mapfile -t prog_binds < <("$py" -c 'import json,sys; [print(x) for b in json.loads(sys.argv[1])["binds"] for x in ("-v", b)]' "$prog")
mapfile -t prog_argv < <("$py" -c 'import json,sys; [print(x) for x in json.loads(sys.argv[1])["argv"]]' "$prog")
workloads_in() { # $1 contender, $2 driver, $3 what to record as contender, $4 dir in the container, then run args
  local who=$1 d=$2 as=$3 in=$4 out
  shift 4
  sync
  out=$("${cli[@]}" run --network none "${prog_binds[@]}" "$@" bench-base \
        "${prog_argv[@]}" bench --run-workloads "$in" "${qflag[@]}")
  printf '{"contender":"%s","driver":"%s","workload":%s}\n' "$as" "$d" "$out" >> "$results"
}

# --- the bare filesystem: load's limit, and crun's `run true` floor ---------------------------
log "bare filesystem (fresh ext4 on $tmp): tar -x x$load_reps, crun run true x$run_reps"
suite_fs bare
for i in $(seq "$load_reps"); do
  mkdir -p "$work/bare/x"
  sync
  timed bare - load -- sh -c 'tar -C "$0" -xf "$1" && exec sync -f "$0"' "$work/bare/x" "$work/apply.tar"
  rm -rf "$work/bare/x"
done
# crun (Debian's) running an OCI bundle of the same rootfs: the floor of `run --rm IMAGE true`.
# crun refuses a hybrid cgroup v1/v2 host ("cgroups in hybrid mode not supported", also with
# --cgroup-manager=disabled): there it runs in a mount namespace of its own where
# /sys/fs/cgroup is an empty tmpfs, without cgroups: a floor a little lower than with them.
bundle=$work/bare/bundle
mkdir -p "$bundle/rootfs"
tar -C "$bundle/rootfs" -xf "$work/base.tar"
(cd "$bundle" && crun spec)
"$py" - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["true"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"))
PY
crun_loop() { # $1 repetitions, $2 record (1) or not (0)
  local i
  for i in $(seq "$1"); do
    if [ "$2" = 1 ]; then
      timed crun - run_true -- crun --root "$work/crun-state" $crun_cg run --bundle "$bundle" "bench-crun-$i"
    else
      crun --root "$work/crun-state" $crun_cg run --bundle "$bundle" "bench-crun-warm-$i" </dev/null
    fi
  done
}
crun_cg=
if [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then crun_cg=--cgroup-manager=disabled; fi
export -f crun_loop timed
export work bundle crun_cg py repo results
in_crun_ns() {
  if [ -n "$crun_cg" ]; then
    unshare -m --propagation private bash -c 'mount -t tmpfs tmpfs /sys/fs/cgroup && crun_loop "$@"' _ "$@"
  else
    crun_loop "$@"
  fi
}
in_crun_ns 1 0
sync
in_crun_ns "$run_reps" 1
rm -rf "$bundle"
drop_fs bare

# --- one contender on one driver -------------------------------------------------------------
# $1 contender (engine|docker), $2 driver; the CLI is in the array `cli`, the data root on the
# suite's fresh filesystem $work/$1-$2.
measure() {
  local who=$1 d=$2 i mnt=$work/$1-$2
  log "$who on $d: load x$load_reps"
  for i in $(seq "$load_reps"); do
    sync
    timed "$who" "$d" load -- "${durable[@]}" "${cli[@]}" load -i "$work/load.tar"
    "${cli[@]}" rmi bench-load:latest >/dev/null
  done
  log "$who on $d: pull x$load_reps"
  for i in $(seq "$load_reps"); do
    sync
    timed "$who" "$d" pull -- "${durable[@]}" "${cli[@]}" pull -q "$pull_ref"
    "${cli[@]}" rmi "$pull_ref" >/dev/null
  done
  if [ "$who" = docker ]; then
    printf '{"contender":"docker","driver":"%s","metric":"dockerd_hwm","kb":%s}\n' "$d" \
      "$(awk '/^VmHWM/ {print $2}' "/proc/$dockerd_pid/status")" >> "$results"
  fi
  "${cli[@]}" import "$work/base.tar" bench-base:latest >/dev/null
  log "$who on $d: run --rm true x$run_reps"
  "${cli[@]}" run --rm --network none bench-base true
  sync
  for i in $(seq "$run_reps"); do
    timed "$who" "$d" run_true -- "${cli[@]}" run --rm --network none bench-base true
  done
  log "$who on $d: workloads on the container's root and on the bare directory, commit, rm x$reps"
  for i in $(seq "$reps"); do
    # Alternate which goes first, so neither always meets the other's writeback.
    if [ $((i % 2)) = 1 ]; then order="bare root"; else order="root bare"; fi
    for side in $order; do
      if [ "$side" = bare ]; then
        # Nested like the drivers' layer directories, not at the top of the filesystem
        # (ext4 places top-level directories apart: see cli/src/commands/bench.rs).
        mkdir -p "$mnt/bench-bare/dir"
        tar -C "$mnt/bench-bare/dir" -xf "$work/base.tar"
        workloads_in "$who" "$d" "bare@$who" /bare --rm -v "$mnt/bench-bare/dir:/bare"
        rm -rf "$mnt/bench-bare"
      else
        workloads_in "$who" "$d" "$who" / --name "bench-$i"
        sync
        timed "$who" "$d" commit -- "${durable[@]}" "${cli[@]}" commit "bench-$i" "bench-commit:$i"
        sync
        timed "$who" "$d" rm -- "${cli[@]}" rm -f "bench-$i" >/dev/null
        "${cli[@]}" rmi "bench-commit:$i" >/dev/null
      fi
    done
  done
}

start_dockerd() {
  local d=$1 dd=$work/docker-$1
  mkdir -p "$dd/data"
  dockerd --data-root "$dd/data" --exec-root "$dd/exec" --pidfile "$dd/dockerd.pid" \
    -H "unix://$dd/docker.sock" --bridge=none --iptables=false --ip-masq=false \
    --storage-driver "$d" > "$dd/dockerd.log" 2>&1 &
  dockerd_pid=$!
  cli=("$docker_bin" -H "unix://$dd/docker.sock")
  export DOCKER_CONFIG=$dd/client
  for _ in $(seq 300); do
    "${cli[@]}" version >/dev/null 2>&1 && return 0
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.2
  done
  cat "$dd/dockerd.log" >&2
  die "dockerd ($d) did not start"
}

for d in $drivers; do
  suite_fs "engine-$d"
  data=$work/engine-$d/root
  cli=("$engine_bin" --data-root "$data" --storage-driver "$d")
  measure engine "$d"
  "${cli[@]}" ps -aq | xargs -r "${cli[@]}" rm -f >/dev/null
  unmount_under "$work/engine-$d/root"
  drop_fs "engine-$d"

  suite_fs "docker-$d"
  start_dockerd "$d"
  measure docker "$d"
  stop_dockerd
  unmount_under "$work/docker-$d/data"
  rm -rf "$work/docker-$d/exec"
  drop_fs "docker-$d"
done

# --- report ----------------------------------------------------------------------------------
cmdline="sudo $(env | grep -E '^BENCH_(QUICK|DRIVERS|REPS|RUN_REPS|LOAD_REPS|TMPDIR|PROFILE|BUFFERED_LOOP)=' | sort | tr '\n' ' ')benches/compare.sh"
mkdir -p "$(dirname "$out")"
"$py" benches/report.py "$results" "$out" \
  --profile "$profile" --load-start "$load_start" --load-end "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --quick "${quick:-0}" --reps "$reps" --run-reps "$run_reps" --load-reps "$load_reps" \
  --load-bytes "$load_bytes" --tmpdir "$tmp" --command "$cmdline" \
  $([ "${BENCH_BUFFERED_LOOP:-0}" = 1 ] && echo --buffered-loop) \
  --engine-version "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --docker-version "client $("$docker_bin" --version 2>/dev/null | head -n1), daemon $(dockerd --version | head -n1)"
cp "$results" "$out.jsonl"
log "wrote $out.md, $out.png and the raw timings $out.jsonl"
