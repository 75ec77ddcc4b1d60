"""Docker's Python SDK against `engine daemon` (run by tests/clients.rs).

Usage: sdk.py SOCKET. Each check raises on a wrong answer; the exit status is the verdict.
"""
import io
import sys
import tarfile

import docker

client = docker.DockerClient(base_url="unix://" + sys.argv[1], version="1.41", timeout=60)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what, flush=True)


# The SDK's most common call: run in the foreground, get the output, remove the container.
out = client.containers.run("busybox", ["sh", "-c", "echo hello; echo err >&2"], remove=True)
check(out == b"hello\n", "containers.run returns the output: %r" % out)
check(client.containers.list(all=True) == [], "remove=True leaves no container")
try:
    client.containers.run("busybox", ["sh", "-c", "exit 3"], remove=True)
    raise AssertionError("a failing command must raise ContainerError")
except docker.errors.ContainerError as e:
    check(e.exit_status == 3, "ContainerError carries the exit status")
check(client.containers.list(all=True) == [], "remove=True also after a failure")

# Volumes: created, used by two containers in turn, labels kept, removed.
vol = client.volumes.create("sdkvol", labels={"team": "a"})
check(vol.attrs["Driver"] == "local" and vol.attrs["Labels"] == {"team": "a"}, "volume created")
client.containers.run("busybox", ["sh", "-c", "echo kept > /v/f"], remove=True,
                      volumes={"sdkvol": {"bind": "/v", "mode": "rw"}})
out = client.containers.run("busybox", ["cat", "/v/f"], remove=True,
                            volumes={"sdkvol": {"bind": "/v", "mode": "ro"}})
check(out == b"kept\n", "a volume outlives its containers")
check([v.name for v in client.volumes.list(filters={"label": "team=a"})] == ["sdkvol"],
      "volumes.list with a label filter")
mounts = [docker.types.Mount("/t", None, type="tmpfs", tmpfs_size=1 << 20)]
out = client.containers.run("busybox", ["grep", " /t ", "/proc/mounts"], remove=True, mounts=mounts)
check(b"size=1024k" in out, "a tmpfs Mount: %r" % out)

# put_archive / get_archive on a running container.
c = client.containers.run("busybox", ["sleep", "600"], detach=True, volumes=["sdkvol:/v"])
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"put by the sdk\n"
    info = tarfile.TarInfo("sdkfile")
    info.size = len(data)
    info.mode = 0o640
    t.addfile(info, io.BytesIO(data))
check(c.put_archive("/v", buf.getvalue()), "put_archive")
bits, stat = c.get_archive("/v/sdkfile")
raw = b"".join(bits)
with tarfile.open(fileobj=io.BytesIO(raw)) as t:
    member = t.getmember("sdkfile")
    got = t.extractfile(member).read()
check(got == b"put by the sdk\n", "get_archive returns what put_archive wrote")
check(stat["name"] == "sdkfile" and stat["size"] == 15 and stat["mode"] & 0o777 == 0o640,
      "get_archive's stat: %r" % stat)
try:
    c.get_archive("/no/such/path")
    raise AssertionError("a missing path must raise NotFound")
except docker.errors.NotFound:
    check(True, "get_archive of a missing path is NotFound")
bits, _ = c.get_archive("/v/f")
with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as t:
    got = t.extractfile(t.getmember("f")).read()
check(got == b"kept\n", "the volume is in the container: %r" % got)

# exec_run's output: the process starts once the stream is set up, so none is lost.
outs = [c.exec_run(["echo", str(i)]).output for i in range(20)]
check(outs == [b"%d\n" % i for i in range(20)], "exec_run returns every output")

# stats, one document.
st = c.stats(stream=False)
check(st["id"] == c.id and st["name"] == "/" + c.name, "stats names the container")
check(st["memory_stats"]["usage"] > 0 and st["memory_stats"]["limit"] > 0, "stats: memory")
check(st["pids_stats"]["current"] >= 1, "stats: pids")
check(st["cpu_stats"]["cpu_usage"]["total_usage"] >= st["precpu_stats"]["cpu_usage"]["total_usage"]
      and st["cpu_stats"]["system_cpu_usage"] > st["precpu_stats"]["system_cpu_usage"] > 0,
      "stats: cpu and precpu")
stream = c.stats(decode=True)
first, second = next(stream), next(stream)
check(second["precpu_stats"]["cpu_usage"]["total_usage"]
      == first["cpu_stats"]["cpu_usage"]["total_usage"], "stats stream: one reading after another")
stream.close()

# pause / unpause.
c.pause()
c.reload()
check(c.status == "paused" and c.attrs["State"]["Paused"], "pause: %s" % c.status)
try:
    c.exec_run(["true"])
    raise AssertionError("exec into a paused container must fail")
except docker.errors.APIError as e:
    check(e.status_code == 409, "exec into a paused container is refused (409)")
c.unpause()
c.reload()
check(c.status == "running", "unpause: %s" % c.status)

try:
    vol.remove()
    raise AssertionError("removing a volume in use must fail")
except docker.errors.APIError as e:
    check(e.status_code == 409, "a volume in use is not removed (409)")
c.remove(force=True)
vol.remove()
check(client.volumes.list() == [], "volume removed")
print("all ok")
