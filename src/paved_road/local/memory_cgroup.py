"""Memory cgroups that give a local process the memory limit of an ECS task.

Node sizes V8's heap from the memory it may use: `SetIsolateCreateParamsForNode`
(nodejs/node src/api/environment.cc) passes
`min(uv_get_total_memory(), uv_get_constrained_memory())` to V8's
`ResourceConstraints::ConfigureDefaults`. libuv's `uv_get_constrained_memory`
(libuv src/unix/linux.c) reads the limit of the process's own memory cgroup,
the leaf only: on cgroup v1 the smaller of `memory.soft_limit_in_bytes` and
`memory.limit_in_bytes` under `/sys/fs/cgroup/memory/<path from
/proc/self/cgroup>`, on cgroup v2 (`/proc/self/cgroup` starting "0::/") the
smaller of `memory.max` and `memory.high` under `/sys/fs/cgroup/<path>`. A
process started inside a cgroup whose hard limit is the task's memory
therefore gets the heap Node gives a process limited to that memory. That
is what an ECS task's app container gets: its task definition sets a hard
`memory` limit (the task's less the collector's;
terraform-modules/ecs-service/main.tf), Docker's `--memory`, which is the
container's own cgroup's `memory.max` or `memory.limit_in_bytes`;
docs/telemetry.md "Overhead".

Each cgroup is a child of this process's own memory cgroup, so whatever
limits and accounting apply to the caller still apply to the process, and
`close()` removes every cgroup it made. Cgroup v2 needs more than write
access (kernel Documentation/admin-guide/cgroup-v2.rst): a child has
`memory.max` only when the memory controller is enabled in its parent's
`cgroup.subtree_control` ("2-4-1. Enabling and Disabling"), a non-root cgroup
that holds processes of its own cannot enable it ("2-4-3. No Internal Process
Constraint"), and a non-root user needs the subtree delegated ("2-5.
Delegation"). This module does not rearrange the caller's own cgroup to get
there: where the controller is not already available it says why.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")  # where libuv looks, whatever the mounts say
SELF_CGROUP = Path("/proc/self/cgroup")


class MemoryCgroupUnavailable(RuntimeError):
    """No writable memory cgroup here; the message says why, in one line."""


class MemoryCgroup:
    """One cgroup with a hard memory limit; `enter` is a subprocess preexec_fn."""

    def __init__(self, path: Path, version: int, limit_bytes: int):
        self.path, self.version, self.limit_bytes = path, version, limit_bytes
        self._procs = str(path / "cgroup.procs")

    def enter(self) -> None:
        """Move the calling process into this cgroup ("0" is the writer itself,
        cgroup-v1/cgroups.rst and cgroup-v2.rst). Run as a preexec_fn, between
        fork and exec: plain system calls only, nothing that takes a Python lock."""
        fd = os.open(self._procs, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in Path(self._procs).read_text().split()]
        except FileNotFoundError:
            return []

    def remove(self, timeout: float = 5.0) -> None:
        """rmdir once empty; a process still inside (ours: it was started into
        this cgroup) is killed by its id first."""
        deadline = time.monotonic() + timeout
        while True:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # EBUSY while the killed processes exit
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


class MemoryCgroups:
    """Makes memory cgroups with a limit of `limit_mib` MiB; a context manager
    that removes them all on exit (errors and Ctrl-C included).
    Raises MemoryCgroupUnavailable when none can be made here."""

    def __init__(self, limit_mib: int, *, root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP):
        if limit_mib <= 0:
            raise ValueError(f"limit_mib must be a positive number of MiB, not {limit_mib}")
        self.limit_bytes = limit_mib * 2**20
        self.version, self.base = _own_memory_cgroup(root, self_cgroup)
        self._prefix = f"paved-{os.getpid()}-"
        self.created: list[MemoryCgroup] = []
        probe = self.create("probe")  # proves write access and the controller, not assumed
        probe.remove()
        self.created.remove(probe)

    @property
    def description(self) -> str:
        return f"cgroup v{self.version}"

    def create(self, name: str) -> MemoryCgroup:
        path = self.base / (self._prefix + re.sub(r"[^\w.-]", "_", name))
        try:
            path.mkdir()
        except OSError as e:
            raise MemoryCgroupUnavailable(f"cannot create a memory cgroup under {self.base}: {e.strerror}") from e
        cgroup = MemoryCgroup(path, self.version, self.limit_bytes)
        self.created.append(cgroup)
        limit_file = path / ("memory.max" if self.version == 2 else "memory.limit_in_bytes")
        try:
            limit_file.write_text(str(self.limit_bytes))
        except OSError as e:
            self.close()
            raise MemoryCgroupUnavailable(f"cannot set {limit_file.name} in {self.base}: {e.strerror}") from e
        return cgroup

    def close(self) -> None:
        errors = []
        for cgroup in reversed(self.created):
            try:
                cgroup.remove()
            except OSError as e:
                errors.append(f"{cgroup.path}: {e.strerror}")
        self.created.clear()
        if errors:
            raise RuntimeError("memory cgroups left behind: " + "; ".join(errors))

    def __enter__(self) -> MemoryCgroups:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _own_memory_cgroup(root: Path, self_cgroup: Path) -> tuple[int, Path]:
    """(cgroup version, directory of this process's memory cgroup), decided as
    libuv decides it: v2 when /proc/self/cgroup starts with "0::/"."""
    try:
        text = self_cgroup.read_text()
    except OSError as e:
        raise MemoryCgroupUnavailable(f"cannot read {self_cgroup}: {e.strerror}") from e
    if text.startswith("0::/"):
        base = root / text.splitlines()[0][len("0::/"):]
        controllers = base / "cgroup.subtree_control"
        try:
            enabled = controllers.read_text().split()
        except OSError as e:
            raise MemoryCgroupUnavailable(f"cgroup v2: cannot read {controllers}: {e.strerror}") from e
        if "memory" not in enabled:
            raise MemoryCgroupUnavailable(
                f"cgroup v2: the memory controller is not enabled for children of {base} "
                "(cgroup.subtree_control; a cgroup with processes of its own cannot enable it, "
                "and a non-root user needs the subtree delegated)")
        return 2, base
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "memory":  # the line libuv looks for (":memory:")
            base = root / "memory" / path.lstrip("/")
            if not (base / "memory.limit_in_bytes").exists():
                raise MemoryCgroupUnavailable(f"cgroup v1: no memory controller at {base}")
            return 1, base
    raise MemoryCgroupUnavailable(f"no memory controller in {self_cgroup}")
