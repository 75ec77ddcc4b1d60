"""Docker's Python SDK setting host options, log options and updates on `engine daemon`
(run by tests/flags.rs).

Usage: sdk_flags.py SOCKET v1|v2. Each check raises on a wrong answer; the exit status is
the verdict.
"""
import sys

import docker

client = docker.DockerClient(base_url="unix://" + sys.argv[1], version="1.41", timeout=60)
v1 = sys.argv[2] == "v1"


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what, flush=True)


kwargs = dict(
    oom_score_adj=250,
    group_add=["staff"],
    dns_opt=["ndots:4"],
    domainname="sdk.test",
    mem_limit="64m",
    mem_reservation="16m",
    cgroupns="private",
    log_config={"type": "json-file", "config": {"max-size": "1m"}},
)
if v1:
    kwargs["mem_swappiness"] = 0
out = client.containers.run(
    "busybox",
    ["sh", "-c", "cat /proc/1/oom_score_adj; grep ^Groups: /proc/self/status; "
     "grep ^options /etc/resolv.conf; cat /proc/sys/kernel/domainname; "
     "grep -E '^[0-9]+:(memory)?:' /proc/self/cgroup | head -1; "
     "cat /sys/fs/cgroup/memory/memory.swappiness 2>/dev/null || echo none"],
    remove=True, **kwargs).decode().split("\n")
check(out[0] == "250", "oom_score_adj inside: %r" % out)
check(out[1].split() == ["Groups:", "50"], "group_add inside: %r" % out)
check(out[2] == "options ndots:4", "dns_opt inside: %r" % out)
check(out[3] == "sdk.test", "domainname inside: %r" % out)
check(out[4].endswith(":/"), "cgroupns private inside: %r" % out)
if v1:
    check(out[5] == "0", "mem_swappiness 0 inside: %r" % out)

c = client.containers.create("busybox", ["true"], **kwargs)
hc = c.attrs["HostConfig"]
check(hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}, "LogConfig kept")
check(hc["OomScoreAdj"] == 250 and hc["GroupAdd"] == ["staff"], "OomScoreAdj, GroupAdd kept")
check(hc["CgroupnsMode"] == "private", "CgroupnsMode kept")
if v1:
    check(hc["MemorySwappiness"] == 0, "MemorySwappiness 0 kept, not null")
c.remove()

try:
    client.containers.create("busybox", ["true"], log_config={"type": "syslog", "config": {}})
    raise AssertionError("syslog must be refused")
except docker.errors.APIError as e:
    check("syslog" in str(e), "an unsupported log driver is refused by name: %s" % e)

# container.update(): live on a running container, then the record.
c = client.containers.run("busybox", ["sleep", "300"], detach=True, mem_limit="64m",
                          memswap_limit="128m")
res = c.update(mem_limit="96m", restart_policy={"Name": "unless-stopped"})
check(res == {"Warnings": []}, "update answers Docker's body: %r" % res)
code, limits = c.exec_run(["sh", "-c",
    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null"])
check(limits.decode().split() == [str(96 << 20)], "the limit changed inside: %r" % limits)
c.reload()
hc = c.attrs["HostConfig"]
check(hc["Memory"] == 96 << 20 and hc["MemorySwap"] == 128 << 20, "the record changed")
check(hc["RestartPolicy"]["Name"] == "unless-stopped", "the restart policy changed")
try:
    c.update(mem_limit="512m")
    raise AssertionError("memory above memory+swap must be refused")
except docker.errors.APIError as e:
    check(e.status_code == 409 and "memoryswap" in str(e), "a conflicting update: %s" % e)
try:
    client.api.update_container("nosuchcontainer", mem_limit="64m")
    raise AssertionError("a missing container must be refused")
except docker.errors.NotFound:
    check(True, "update of a missing container is a 404")
c.remove(force=True)
print("all ok")
