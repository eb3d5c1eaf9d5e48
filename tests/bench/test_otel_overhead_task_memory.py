"""bench/otel_overhead.py runs every service with the memory of the ECS task it
stands for (--task-memory, a memory cgroup per service), so Node sizes V8's
heap as on Fargate, and says in its report what Node saw."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from bench_reports import report_args, run_results

from paved_road.local.local_run import RuntimeStage
from paved_road.local.memory_cgroup import MemoryCgroups, MemoryCgroupUnavailable
from paved_road.local.node_toolchain import node_env

BENCH = Path(__file__).resolve().parents[2] / "bench" / "otel_overhead.py"


def _memory_cgroups_or_skip(mib: int) -> MemoryCgroups:
    try:
        return MemoryCgroups(mib)
    except MemoryCgroupUnavailable as e:
        pytest.skip(f"no writable memory cgroup on this machine (needs root, or cgroup v2 with the memory "
                    f"controller delegated): {e}")


def _machine_heap_limit_mib() -> float:
    out = subprocess.run(["node", "-p", "require('node:v8').getHeapStatistics().heap_size_limit / 2**20"],
                         env=node_env(24), capture_output=True, text=True, check=True).stdout
    return float(out)


# A stand-in service: answers /healthz and otherwise idles, as the generated one does.
SERVER_JS = """require('node:http').createServer((req, res) => res.end('ok'))
  .listen(Number(process.env.PORT), process.env.HOST)
"""


@pytest.mark.slow
def test_a_service_the_bench_starts_sizes_its_heap_for_the_task_and_the_cgroup_is_gone_after(bench, tmp_path):
    """The bench's own path: Setup.start -> ServiceProcess starts the pinned
    Node inside the setup's cgroup, bench/heap_probe.js reports what that Node
    sees. With a 1024 MiB task Node reports exactly 1024 MiB and a heap limit
    well under the machine-sized one; the cgroup is removed afterwards."""
    (tmp_path / "server.js").write_text(SERVER_JS)
    stage = RuntimeStage(workdir="/app", env={}, cmd=["node", "server.js"])
    limits = tmp_path / "limits.json"
    with _memory_cgroups_or_skip(1024) as cgroups:
        setup = bench.Setup("ours@prod", tmp_path, stage, {}, "", memory_cgroup=cgroups.create("ours@prod"))
        svc = setup.start(f"--require {bench.HEAP_PROBE}", {"PAVED_BENCH_LIMITS_FILE": str(limits)})
        try:
            svc.wait_ready()
            in_cgroup = Path(f"/proc/{svc.proc.pid}/cgroup").read_text()
        finally:
            svc.terminate()
            svc.kill()
        path = setup.memory_cgroup.path
        assert path.is_dir()
    assert not path.exists(), path
    assert path.name in in_cgroup, in_cgroup
    seen = bench.node_memory(limits)
    assert seen["constrained_mib"] == 1024, seen
    assert seen["heap_limit_mib"] < 1024 and seen["heap_limit_mib"] < _machine_heap_limit_mib() / 2, seen


@pytest.mark.slow
def test_each_task_gets_its_own_cgroup_and_a_process_left_running_is_stopped_when_they_are_removed(tmp_path):
    """Two services are two tasks: two cgroups, each with its own limit. On an
    error (or Ctrl-C) while a service still runs, leaving the `with` stops the
    process inside and removes both cgroups."""
    probe = ("console.log(process.constrainedMemory() / 2**20, "
             "require('node:fs').readFileSync('/proc/self/cgroup', 'utf8').match(/paved-[^\\n]*/)[0]); "
             "setInterval(() => {}, 1000)")
    procs = []
    with pytest.raises(KeyboardInterrupt):
        with _memory_cgroups_or_skip(2048) as cgroups:
            paths = []
            for name in ("bare", "ours"):
                cgroup = cgroups.create(name)
                paths.append(cgroup.path)
                procs.append(subprocess.Popen(["node", "-e", probe], env=node_env(24), stdout=subprocess.PIPE,
                                              text=True, preexec_fn=cgroup.enter))
            seen = [p.stdout.readline().split() for p in procs]
            raise KeyboardInterrupt
    assert [mib for mib, _ in seen] == ["2048", "2048"], seen
    assert [name for _, name in seen] == [p.name for p in paths] and paths[0] != paths[1], (seen, paths)
    for proc in procs:
        assert proc.wait(5) == -signal.SIGKILL
    assert not any(p.exists() for p in paths), paths


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "", "2GB", "200"])  # 200: not more than the collector's 256
def test_a_bad_task_memory_exits_2_with_one_line_naming_the_flag_and_changes_nothing(value):
    own = _own_v1_memory_cgroup()
    before = sorted(os.listdir(own)) if own else None
    result = subprocess.run([sys.executable, str(BENCH), "--task-memory", value], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2, result
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    line = result.stderr
    assert "--task-memory" in line and repr(value) in line and "0 for no emulation" in line and "2048" in line, line
    if own:
        assert sorted(os.listdir(own)) == before  # no cgroup made


def _own_v1_memory_cgroup() -> Path | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "memory":
            own = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            return own if own.is_dir() else None
    return None


def test_without_a_memory_controller_to_delegate_the_bench_says_why_and_measures_with_the_machines_memory(
        bench, tmp_path):
    """cgroup v2 where the memory controller is not enabled for the bench's
    cgroup's children (a model of /sys/fs/cgroup: the files the kernel shows
    there): no emulation, and the note names the cause."""
    root = tmp_path / "cgroup"
    (root / "user.slice" / "session-1.scope").mkdir(parents=True)
    (root / "user.slice" / "session-1.scope" / "cgroup.subtree_control").write_text("\n")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("0::/user.slice/session-1.scope\n")
    cgroups, note = bench.open_task_memory(2048, root=root, self_cgroup=self_cgroup)
    assert cgroups is None
    assert note.startswith("task memory not emulated: cgroup v2: the memory controller is not enabled"), note
    assert "cgroup.subtree_control" in note and "\n" not in note, note
    assert not any(p.name.startswith("paved-") for p in (root / "user.slice" / "session-1.scope").iterdir())
    cgroups, note = bench.open_task_memory(0)
    assert cgroups is None and note.startswith("task memory not emulated (--task-memory 0)"), note


def _results(node_memory: dict) -> dict:
    results = run_results()
    for figures in results.values():
        figures["node_memory"] = node_memory
    return results


@pytest.mark.parametrize("emulated, note, seen, shown, condition", [
    (2048, "task memory 2048 MiB (a memory cgroup per service, cgroup v1)",
     {"constrained_mib": 2048, "heap_limit_mib": 1120}, "ours 2048/1120 MiB", "heap sized for the app container's 2048 MiB limit"),
    (None, "task memory not emulated: cgroup v2: the memory controller is not enabled for children of X",
     {"constrained_mib": None, "heap_limit_mib": 4288}, "ours no limit/4288 MiB",
     "heap sized from this machine's memory"),
])
def test_the_report_states_the_task_memory_and_what_each_services_node_saw(bench, capsys,
                                                                            emulated, note, seen, shown, condition):
    args = report_args(task_memory_note=note, task_memory_emulated=emulated)
    bench.report(_results(seen), args)
    out = capsys.readouterr().out.splitlines()
    (header,) = [line for line in out if line.startswith("task memory")]
    assert header.startswith(note + "; each service's Node sees (process.constrainedMemory() / V8 heap limit):")
    assert shown in header and shown.replace("ours", "naive@prod") in header, header
    (rss,) = [line for line in out if "RSS <=" in line]
    assert condition in rss, rss



def test_the_bench_refuses_to_measure_when_a_services_node_does_not_see_the_tasks_memory(bench, tmp_path,
                                                                                         monkeypatch):
    """The emulation is checked, not assumed: a service whose Node reports the
    machine's memory (the cgroup did not take) stops the run before any load,
    naming the setup and the task's memory."""
    started = []

    class FakeService:
        base_url = "http://x"

        def __init__(self, env):
            self.proc = argparse.Namespace(pid=1)
            Path(env["PAVED_BENCH_LIMITS_FILE"]).write_text('{"constrainedMemory": 18446744073709551615, '
                                                            '"heapSizeLimit": 4496293888}')

        def wait_ready(self):
            return 0.1

        def terminate(self):
            return 0, 0.1

        def kill(self):
            started.append("stopped")

    def start(self, extra_options="", extra_env=None):
        return FakeService(extra_env)

    monkeypatch.setattr(bench.Setup, "start", start)
    monkeypatch.setattr(bench, "loop_blocks", lambda setups, times: {s.name: (2.0, []) for s in setups})
    monkeypatch.setattr(bench, "startups", lambda setups, times: {s.name: [0.3] for s in setups})
    monkeypatch.setattr(bench, "load", lambda *a, **k: pytest.fail("measured although Node saw the machine's memory"))
    task = argparse.Namespace(limit_bytes=2048 * 2**20, path=tmp_path / "paved-1-ours")
    setups = [bench.Setup("ours", tmp_path, None, {}, None, memory_cgroup=task)]
    args = argparse.Namespace(blocks=1, startups=1, warmup=10, connections=1, repeats=1, example_requests=10,
                              healthz_requests=10, settle=0.0)
    with pytest.raises(RuntimeError, match=r"ours: Node does not see the app container's 2048 MiB limit"):
        bench.run(setups, args, {}, None, tmp_path)
    assert started == ["stopped"]  # the service was stopped on the way out


def test_profile_endpoint_without_profile_exits_2_with_one_line_naming_both_flags():
    """--profile-endpoint says which endpoint --profile's setups load; alone it would be ignored and a
    whole run measured instead."""
    result = subprocess.run([sys.executable, str(BENCH), "--profile-endpoint", "healthz"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == "" and len(result.stderr.splitlines()) == 1, result
    assert "--profile-endpoint" in result.stderr and "--profile SETUPS" in result.stderr
    assert "example, healthz" in result.stderr, result.stderr
