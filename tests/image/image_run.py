"""Run a built image the way a container runtime would, without one.

`podman run` cannot work on these machines (cgroups), and `buildah run` always
gives the container a writable root. So the image's root filesystem is mounted
with `buildah mount` and started inside fresh mount and PID namespaces
(`unshare --mount --pid --fork`):

- the root is bind-mounted read-only, with a tmpfs on /tmp only (what ECS does
  with `readonlyRootFilesystem` plus a tmpfs mount);
- /proc is the namespace's own, /dev is a small tmpfs with the usual device
  nodes, /etc/hosts, /etc/hostname and /etc/resolv.conf are provided as a
  runtime provides them;
- the process is started with the image's own ENTRYPOINT + CMD, USER (and its
  groups), WORKDIR and ENV, and becomes PID 1 of its namespace as it would in a
  container (so SIGTERM only works if the app handles it);
- networking is the host's (loopback reaches test peers), like `--network host`.

`python image_run.py SPEC.json` is the in-namespace half (see `launch`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from image_buildah import Buildah, ImageInfo  # noqa: E402

DEV_NODES = ["null", "zero", "full", "random", "urandom", "tty"]


def _passwd_lookup(rootfs: Path, user: str) -> tuple[int, int, list[int], str]:
    """uid, gid, supplementary gids and home of USER[:GROUP] as the image's /etc files define them."""
    name, _, group = user.partition(":")
    uid = gid = None
    home = "/"
    username = None
    for line in (rootfs / "etc/passwd").read_text().splitlines():
        parts = line.split(":")
        if len(parts) >= 7 and (parts[0] == name or parts[2] == name):
            username, uid, gid, home = parts[0], int(parts[2]), int(parts[3]), parts[5]
            break
    if uid is None:
        if not name.isdigit():
            raise ValueError(f"USER {name!r} does not exist in the image's /etc/passwd")
        uid, gid = int(name), 0
    groups: list[int] = []
    for line in (rootfs / "etc/group").read_text().splitlines():
        parts = line.split(":")
        if len(parts) < 4:
            continue
        if group and (parts[0] == group or parts[2] == group):
            gid = int(parts[2])
        if username and username in parts[3].split(","):
            groups.append(int(parts[2]))
    if group and group.isdigit():
        gid = int(group)
    return uid, gid, sorted(set(groups + [gid])), home


@dataclass
class Running:
    proc: subprocess.Popen  # the `unshare` process on the host
    container: str
    rootfs: Path
    buildah: Buildah
    stdout_path: Path
    pid: int = 0  # host PID of the image's process (PID 1 in its namespace)
    exit_code: int | None = None
    stop_seconds: float | None = None
    _closed: bool = field(default=False, repr=False)

    def status(self) -> dict[str, str]:
        """/proc/<pid>/status of the container's main process, as a dict."""
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            out[key] = value.strip()
        return out

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def terminate(self, timeout: float = 5.0) -> None:
        """Send SIGTERM to the container's process (as `docker stop` does) and wait up to timeout."""
        t0 = time.monotonic()
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
            self.stop_seconds = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            self.exit_code = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)  # PID 1 dying ends the whole namespace
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        self.buildah.rm(self.container)


def start(image: str, *, env: dict[str, str] | None = None, buildah: Buildah | None = None,
          log_dir: Path, info: ImageInfo | None = None, cmd: list[str] | None = None) -> Running:
    """Start IMAGE read-only with its own entrypoint/cmd/user/workdir/env.

    `env` adds to or overrides the image's environment and `cmd` replaces its
    CMD, as `docker run -e K=V IMAGE CMD...` would.
    """
    buildah = buildah or Buildah()
    info = info or buildah.inspect(image)
    container = buildah.from_image(image)
    try:
        rootfs = buildah.mount(container)
        uid, gid, groups, home = _passwd_lookup(rootfs, info.user or "root")
        full_env = {"HOSTNAME": "image-check", "HOME": home, **info.env, **(env or {})}
        spec = {"rootfs": str(rootfs), "uid": uid, "gid": gid, "groups": groups,
                "workdir": info.workdir or "/", "env": full_env,
                "argv": info.entrypoint + (info.cmd if cmd is None else cmd)}
        if not spec["argv"]:
            raise ValueError(f"{image} has neither ENTRYPOINT nor CMD")
        log_dir.mkdir(parents=True, exist_ok=True)
        spec_path = log_dir / f"{container}.spec.json"
        spec_path.write_text(json.dumps(spec))
        stdout_path = log_dir / f"{container}.out"
        with open(stdout_path, "wb") as out:
            proc = subprocess.Popen(
                ["unshare", "--mount", "--pid", "--fork", "--propagation", "private",
                 sys.executable, str(Path(__file__).resolve()), str(spec_path)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    except Exception:
        buildah.rm(container)
        raise
    running = Running(proc=proc, container=container, rootfs=rootfs, buildah=buildah,
                      stdout_path=stdout_path)
    # The forked child of `unshare` is the container's PID 1 once it has exec'd.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        kids = children.read_text().split() if children.exists() else []
        if kids:
            running.pid = int(kids[0])
            break
        time.sleep(0.02)
    if not running.pid:
        running.close()
        raise RuntimeError(f"container process did not start:\n{running.output()}")
    return running


# ------------------------------------------------------- inside the namespace
def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def launch(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    root = Path(spec["rootfs"])
    # Files a runtime provides, written to the container's own layer before it starts.
    etc = root / "etc"
    (etc / "hostname").write_text("image-check\n")
    (etc / "hosts").write_text("127.0.0.1\tlocalhost image-check\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    host_resolv = Path("/etc/resolv.conf")
    (etc / "resolv.conf").write_text(host_resolv.read_text() if host_resolv.exists() else "")

    _mount("--bind", str(root), str(root))
    for d in ("tmp", "proc", "dev"):
        (root / d).mkdir(exist_ok=True)
    _mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev,size=64m", "tmpfs", str(root / "tmp"))
    _mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", str(root / "proc"))
    _mount("-t", "tmpfs", "-o", "mode=755,nosuid,size=1m", "tmpfs", str(root / "dev"))
    for node in DEV_NODES:
        target = root / "dev" / node
        target.touch()
        _mount("--bind", f"/dev/{node}", str(target))
    (root / "dev/shm").mkdir()
    _mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev,noexec,size=16m", "tmpfs", str(root / "dev/shm"))
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        (root / "dev" / name).symlink_to(target)
    # Everything but /tmp (and /dev/shm) read-only from here on.
    _mount("-o", "remount,bind,ro", str(root))
    _mount("-o", "remount,bind,ro", str(root / "dev"))

    os.chroot(root)
    os.chdir(spec["workdir"])
    os.setgroups(spec["groups"])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    launch(sys.argv[1])
