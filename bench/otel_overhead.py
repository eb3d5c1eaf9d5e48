"""Telemetry overhead on one generated service: bare vs our bootstrap vs the naive preload.

Run by hand:  .venv/bin/python bench/otel_overhead.py [--repeats 3] [--variants]

Every setup runs the same generated service, started as its image's runtime
stage starts it (production dependencies, CMD, ENV), on the pinned Node, all
in one run against the same downstream stub and OTLP receiver:
  bare         no preload (NODE_OPTIONS removed)
  ours         the template's src/telemetry.js, 100% sampled
  ours@prod    the same at the production default ratio (--production-ratio)
  naive        --require @opentelemetry/auto-instrumentations-node/register, 100%
  naive@prod   the same with OTEL_TRACES_SAMPLER=parentbased_traceidratio at that ratio
  --variants adds the options the defaults were chosen against:
  ours+otlplogs  OTLP log export on as well (OTEL_LOGS_EXPORTER=otlp)
  ours+off       sampling always_off: the cost of the instrumentation wrappers alone
  ours-cache     without the image's compile cache (NODE_COMPILE_CACHE)

The event-loop block is the longest stretch of its own work the service does
without yielding while, already serving, it loads its OTLP exporters (a
second after start): the most main-thread CPU time between two ticks of a
1 ms timer, from the first answered request until SIGTERM
(paved_road.local.local_run.event_loop_block; each run also shows the wall-clock
gap, which includes other processes' time slices), median of --blocks runs;
n/a for a setup that loads everything before answering.

The main figure is CPU per request of the service process (utime+stime from
/proc at a fixed request count), not requests per second: both cores are shared
by the service, the load generator, the stubs and other work on the machine,
which moves rps a lot and CPU per request little. All setups run side by side
and each repeat measures them in turn, so drift hits all of them alike; the
median of the repeats is reported. /healthz is measured first, on services
that have served nothing else (after 3,000 probes of warm-up): what a probe
itself costs. CPU of an /api/example load is counted until --settle seconds
after its last answer, so the export of its last spans and the GC of its
garbage count for it, not for the next setup's load or repeat.
--profile SETUP writes a V8 CPU profile of
that setup's /api/example load and prints where the time goes.

Memory, the target: RSS under load, VmRSS after each repeat's loads (median),
what the running service holds and what the task's memory limit and
ECSServiceAverageMemoryUtilization see. Printed beside it: the peak (VmHWM),
and the RSS and live heap after a last-resort full GC (bench/heap_probe.js,
preloaded in every setup with --expose-gc), which tell retained memory from
garbage not yet collected. They are not the target: no task ever runs that
GC, and the garbage (spans and requests promoted while the batch processor
holds them) is telemetry's cost too.

Task memory (--task-memory, default 2048 MiB, the production task): Node sizes
V8's heap, its young generation especially, from the memory it may use
(nodejs/node src/api/environment.cc, SetIsolateCreateParamsForNode:
min(uv_get_total_memory(), uv_get_constrained_memory()) into V8's
ConfigureDefaults), so on a machine with far more memory than a task every
setup keeps far more garbage than it would on Fargate, and the RSS difference
between setups is mostly where each is in its GC cycle. Every service process
the bench starts therefore runs in a memory cgroup of its own (one per setup,
each its own task) whose hard limit is the app container's in such a task
(the task's memory less the collector's: terraform-modules/ecs-service sets
it as the container's `memory`, its cgroup's limit), entered before Node
starts (paved_road.local.memory_cgroup): the real Node sizes its heap from
the limit it has in the task. Each service's process.constrainedMemory() and V8 heap limit are read
from the service itself (bench/heap_probe.js) and printed; the cgroups are
removed at the end. Without a writable memory cgroup (not root; cgroup v2
without the memory controller delegated) the bench says so and measures with
the machine's memory, as does --task-memory 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from paved_road.cmd_new import generate  # noqa: E402
from paved_road.local.local_run import (ServiceProcess, event_loop_block, free_port, prepare_runtime,  # noqa: E402
                                  runtime_env)
from paved_road.local.memory_cgroup import MemoryCgroup, MemoryCgroups, MemoryCgroupUnavailable  # noqa: E402
from paved_road.local.node_toolchain import node_env  # noqa: E402
from paved_road.local.otel_sink import OtlpSink  # noqa: E402

AUTOCANNON = "autocannon@8.0.0"
NAIVE_PACKAGE = "@opentelemetry/auto-instrumentations-node@0.82.0"
NAIVE_PRELOAD = "--require @opentelemetry/auto-instrumentations-node/register"
TOOLS = REPO / ".cache" / "npm-tools"
# Root sampling ratio measured as "production default". The template's own
# default (copier.yml trace_sample_ratio) is 1.0, all traces; 0.1 is the usual
# production choice, set per environment in infra/environments/*.tfvars.
PRODUCTION_RATIO = 0.1
# Fargate task memory (MiB) of a generated service's production environment
# (staging's is 1024), read from the template, and the collector sidecar's
# share of it (terraform-modules/ecs-service, variable "collector"). The app
# container's hard memory limit is the task's less the collector's
# (terraform-modules/ecs-service/main.tf): its own cgroup carries it, and
# that is the limit Node sizes V8's heap from.
PRODUCTION_TASK_MEMORY_MIB = int(re.search(
    r"^memory\s*=\s*(\d+)", (REPO / "template" / "infra" / "environments" / "production.tfvars.jinja").read_text(),
    re.M)[1])
COLLECTOR_MEMORY_MIB = int(re.search(
    r"memory\s*=\s*optional\(number,\s*(\d+)\)", (REPO / "terraform-modules" / "ecs-service" / "variables.tf").read_text(),
    )[1])

DOWNSTREAM_JS = textwrap.dedent("""
    const http = require('node:http')
    http.createServer((req, res) => { res.writeHead(200, {'content-length': 2}); res.end('ok') })
      .listen(Number(process.argv[2]), '127.0.0.1')
""")


def npm_tool(package: str, env: dict) -> Path:
    name = package.rsplit("@", 1)[0]
    if not (TOOLS / "node_modules" / name).exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(TOOLS), package],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    return TOOLS / "node_modules" / name


HEAP_PROBE = REPO / "bench" / "heap_probe.js"


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory now (VmRSS) or its high-water mark since start (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def settled_memory_mb(proc: subprocess.Popen, memory_file: Path) -> tuple[float, float]:
    """RSS and live heap after a last-resort full GC (bench/heap_probe.js, loaded in every setup)."""
    memory_file.unlink(missing_ok=True)
    proc.send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            memory = json.loads(memory_file.read_text())
            return memory["rss"] / 2**20, memory["heapUsed"] / 2**20
        except (OSError, ValueError):
            time.sleep(0.1)
    raise RuntimeError(f"no memory figures from process {proc.pid}")


def node_memory(limits_file: Path) -> dict | None:
    """What the service's Node sized its heap from, as bench/heap_probe.js
    wrote it at start-up: process.constrainedMemory() and V8's heap_size_limit
    in MiB (constrained None: no cgroup limit). None if the probe wrote nothing."""
    try:
        data = json.loads(limits_file.read_text())
    except (OSError, ValueError):
        return None
    constrained = data["constrainedMemory"]
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"constrained_mib": round(constrained / 2**20) if 0 < constrained < physical else None,
            "heap_limit_mib": round(data["heapSizeLimit"] / 2**20)}


def cpu_seconds(pid: int) -> float:
    """utime + stime of the service process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Where a process's CPU goes, by thread, from /proc/<pid>/task/<tid>/stat: the
# main (JavaScript) thread's user and kernel time, V8's worker threads (GC,
# concurrent compilation), libuv's pool and anything else. A V8
# CPU profile samples the main thread only, and misses ticks when the cores
# are busy; these counts do not. Thread names as Node 24 sets them (comm, 15
# characters): MainThread, V8Worker, libuv-worker, SignalInspector,
# DelayedTaskSche, WorkerThread. Node 22 leaves V8's workers unnamed ("node",
# the process's name): there they would count as other threads (the bench runs
# Node 24).
THREAD_GROUPS = ("main user", "main sys", "V8 workers", "other threads")
# The process's CPU (utime+stime of /proc/<pid>/stat, which keeps the time of
# threads that have ended) less the threads': a thread that ended during a load
# is gone from /proc/<pid>/task, and each thread's time is rounded to clock
# ticks on its own.
UNATTRIBUTED = "not attributed"


def thread_times(pid: int) -> dict[tuple[str, str], tuple[str, float, float]]:
    """Each live thread of `pid`: (tid, start time) -> (group, user seconds, system seconds). The start
    time tells a thread from a later one the kernel gave the same tid."""
    tick = os.sysconf("SC_CLK_TCK")
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            # field 2, comm in parentheses, may itself hold ") ": the fields start after the last ")"
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a thread that ended meanwhile
            continue
        group = "main" if task.name == str(pid) else "V8 workers" if comm.startswith("V8") else "other threads"
        threads[(task.name, fields[19])] = (group, int(fields[11]) / tick, int(fields[12]) / tick)
    return threads


def _grouped(threads: dict, before: dict | None = None) -> Counter:
    seconds: Counter = Counter()
    for key, (group, user, system) in threads.items():
        _, user0, system0 = (before or {}).get(key, (group, 0.0, 0.0))  # a thread started since: all of it
        if group == "main":
            seconds["main user"] += user - user0
            seconds["main sys"] += system - system0
        else:
            seconds[group] += user + system - user0 - system0
    return seconds


def thread_seconds(pid: int) -> Counter:
    """CPU seconds of the live threads of `pid` since they started, by THREAD_GROUPS."""
    return _grouped(thread_times(pid))


def cpu_snapshot(pid: int) -> dict:
    """The process's CPU and each live thread's, read together (see cpu_by_thread)."""
    return {"threads": thread_times(pid), "total": cpu_seconds(pid)}


def cpu_by_thread(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds between two cpu_snapshot()s by THREAD_GROUPS, each thread counted from the first
    snapshot (or its start) to the second, and UNATTRIBUTED: the process's CPU less those (what the
    threads that ended in between spent after the first snapshot, and rounding), so the groups add up
    to the process's CPU and none goes below zero because a thread ended."""
    seconds = _grouped(after["threads"], before["threads"])
    split = {g: seconds[g] for g in THREAD_GROUPS}
    split[UNATTRIBUTED] = after["total"] - before["total"] - sum(split.values())
    return split


def load(url: str, amount: int, connections: int, env: dict, pid: int, settle: float = 0.0) -> dict:
    """A fixed number of requests; CPU per request of the service process,
    counted until `settle` seconds after the last answer, and by thread."""
    cli = npm_tool(AUTOCANNON, env) / "autocannon.js"
    before = cpu_snapshot(pid)
    out = subprocess.run(["node", str(cli), "-j", "-c", str(connections), "-a", str(amount), url],
                         env=env, capture_output=True, text=True, check=True).stdout
    time.sleep(settle)
    after = cpu_snapshot(pid)
    cpu = after["total"] - before["total"]
    data = json.loads(out)
    total = data["requests"]["total"] or 1
    return {"rps": data["requests"]["average"], "p99": data["latency"]["p99"],
            "errors": data["errors"] + data["non2xx"], "cpu_us": cpu / total * 1e6,
            "threads_us": {g: s / total * 1e6 for g, s in cpu_by_thread(before, after).items()}}


class Setup:
    def __init__(self, name, runtime_dir, stage, env, node_options, memory_cgroup: MemoryCgroup | None = None):
        self.name, self.runtime_dir, self.stage = name, runtime_dir, stage
        self.env, self.node_options = env, node_options
        self.memory_cgroup = memory_cgroup  # the setup's task: every process of it starts inside
        self.samples: dict[str, list[dict]] = {"example": [], "healthz": []}

    @property
    def preexec_fn(self):
        return self.memory_cgroup.enter if self.memory_cgroup else None

    def start(self, extra_options: str = "", extra_env: dict | None = None) -> ServiceProcess:
        options = self.node_options if self.node_options is not None else \
            runtime_env(self.runtime_dir, self.stage, 24)["NODE_OPTIONS"]
        options = f"{options} {extra_options}".strip()
        return ServiceProcess(self.runtime_dir, self.stage, 24, env=dict(self.env, **(extra_env or {})),
                              node_options=options, preexec_fn=self.preexec_fn)


def median(values):
    return statistics.median(values) if values else float("nan")


def startups(setups: list[Setup], times: int) -> dict[str, list[float]]:
    """Seconds from spawn to the first /healthz answer, setups interleaved."""
    seconds: dict[str, list[float]] = {s.name: [] for s in setups}
    for attempt in range(times + 1):
        for s in setups:
            svc = s.start()
            ready = svc.wait_ready()
            svc.terminate()
            if attempt:  # the first start fills the compile cache the image ships pre-built
                seconds[s.name].append(ready)
    return seconds


def exit_with_flush(setup: Setup, sink: OtlpSink) -> tuple[int | None, float, int]:
    """SIGTERM right after a traced request whose spans still sit in the batch processor."""
    svc = setup.start()
    svc.wait_ready()
    time.sleep(2)  # a task that has been up a moment, not one killed while starting
    svc.get("/api/example")
    time.sleep(0.1)
    before = len([r for r in sink.received.requests if r["path"] == "/v1/traces"])
    code, seconds = svc.terminate()
    svc.kill()
    flushed = len([r for r in sink.received.requests if r["path"] == "/v1/traces"]) - before
    return code, seconds, flushed


# What a profile measures per endpoint: the path and the argument holding the request count.
# /healthz costs ~20 us a request: at V8's default 1 ms between samples its whole load is a few
# hundred samples, too few to tell 3 us a request apart; it is sampled every 100 us.
PROFILED = {"example": ("/api/example", "example_requests"),
            "healthz": ("/healthz", "healthz_requests")}
PROFILE_INTERVAL_US = {"example": 1000, "healthz": 100}
# Probes each service answers before anything is measured, in run() and in profile() alike.
HEALTHZ_WARMUP = 3000


class Profile(dict):
    """Self time per request by origin, scaled to /proc's CPU; `scale` is the factor (1.0: not scaled)."""

    def __init__(self, by: dict[str, float], scale: float = 1.0):
        super().__init__(by)
        self.scale = scale


def measured_samples(prof: dict, from_us: int, to_us: int) -> list[tuple[int, int]]:
    """The (node id, us) samples of a .cpuprofile taken between from_us and to_us: V8's profile clock
    and time.monotonic are both CLOCK_MONOTONIC, in us. (Bounding the load by the samples whose leaf is
    the route's own file failed on bare's /healthz: V8 inlines its one-line handler, and no sample's
    leaf is in routes/health.js.)"""
    samples, at = [], prof["startTime"]
    for node, dt in zip(prof["samples"], prof["timeDeltas"]):
        at += dt
        if from_us <= at <= to_us:
            samples.append((node, dt))
    if not samples:
        raise RuntimeError(f"the CPU profile ({prof['startTime']} .. {prof.get('endTime')} us) has no sample "
                           f"in the measured load ({from_us} .. {to_us} us)")
    return samples


def profile(setup: Setup, args, tool_env, tmp: Path, endpoint: str = "example") -> Profile:
    """V8 CPU profile (--cpu-prof) of one load of `endpoint` (PROFILED) after
    the same warm-up as the run's: self time per request by origin (package,
    node: module, or V8 bucket), counted over the measured load only, from
    the moment load() starts to the moment it returns, the span /proc's
    CPU per request (the scale) is counted over (measured_samples)."""
    path, amount = PROFILED[endpoint]
    prof_dir = tmp / f"prof-{setup.name}-{endpoint}"
    svc = setup.start(f"--cpu-prof --cpu-prof-interval={PROFILE_INTERVAL_US[endpoint]} --cpu-prof-dir={prof_dir}")
    svc.wait_ready()
    # as run() warms up: probes first, so /healthz is profiled on a service
    # that has served nothing else, as it is measured
    load(svc.base_url + "/healthz", HEALTHZ_WARMUP, args.connections, tool_env, svc.proc.pid)
    if endpoint != "healthz":
        load(svc.base_url + "/api/example", args.warmup, args.connections, tool_env, svc.proc.pid)
    measured_from_us = time.monotonic_ns() // 1000
    total_requests = getattr(args, amount)
    requests = load(svc.base_url + path, total_requests, args.connections, tool_env, svc.proc.pid)
    measured_to_us = time.monotonic_ns() // 1000
    svc.terminate()
    prof = json.loads(next(prof_dir.glob("*.cpuprofile")).read_text())
    nodes = {n["id"]: n["callFrame"] for n in prof["nodes"]}
    try:
        samples = measured_samples(prof, measured_from_us, measured_to_us)
    except RuntimeError as e:
        raise RuntimeError(f"{setup.name} {path}: {e}") from None
    by = Counter()
    otel_functions = Counter()
    for node, dt in samples:
        frame = nodes[node]
        url = frame["url"]
        if "@opentelemetry/" in url:
            package = "/".join(url.split("node_modules/")[-1].split("/")[:2])
            otel_functions[f"{frame['functionName'] or '(anonymous)'}  {package}"] += dt / total_requests
        if "node_modules/" in url:
            part = url.split("node_modules/")[-1].split("/")
            key = "/".join(part[:2]) if part[0].startswith("@") else part[0]
        elif url.startswith("node:"):
            key = url
        elif url:
            key = "service " + Path(url).name
        else:
            key = f"({frame['functionName'] or 'native'})"
        by[key] += dt / total_requests
    by.pop("((idle))", None)
    # The sampler thread misses ticks when the cores are busy (one profile of
    # bare sampled a third of its CPU, another 58 %), so the self times are
    # scaled to the CPU per request /proc counted over the same load: each
    # origin keeps its share, and setups compare in the bench's own unit (GC
    # and I/O threads' time spread over the origins by the same share).
    sampled = sum(by.values())
    scale = requests["cpu_us"] / sampled if sampled else 1.0
    by = Counter({key: us * scale for key, us in by.items()})
    print(f"\n{setup.name} {path}: {requests['cpu_us']:.0f} us of CPU per request over the profiled load; the "
          f"profile sampled {sampled:.0f} us of it on the main thread, its self times below are scaled by {scale:.2f}")
    if otel_functions:
        print("  OpenTelemetry functions, self time per request (scaled):")
        for key, us in otel_functions.most_common(12):
            print(f"  {us * scale:7.1f} us  {key}")
    return Profile(by, scale)


def print_profiles(profiles: dict[str, dict[str, float]], path: str = "/api/example") -> None:
    base = profiles.get("bare", {})
    for name, by in profiles.items():
        if name == "bare":
            continue
        # every origin of either profile: time only bare spent is the setup's saving, not nothing
        delta = {k: by.get(k, 0.0) - base.get(k, 0.0) for k in {**base, **by}}
        # Each profile has its own scale: where they differ, an origin's scaled
        # difference can come from the scales alone (Node's undici read +23 us
        # scaled, -2.5 us sampled, in one run), so the sampled figures are shown too.
        scale, base_scale = getattr(by, "scale", 1.0), getattr(base, "scale", 1.0)
        differ = abs(scale - base_scale) > 0.005
        print(f"\nwhere {name} spends more than bare on {path}, us of CPU per request (self time by origin, scaled"
              + (f" by {scale:.2f} (bare {base_scale:.2f}); sampled main-thread time beside it):" if differ else "):"))
        shown = sorted(delta.items(), key=lambda kv: -kv[1])[:16]
        shown += [kv for kv in sorted(delta.items(), key=lambda kv: kv[1])[:3] if kv[1] < 0 and kv not in shown]
        for key, us in shown:
            sampled = (f"; sampled {by.get(key, 0.0) / scale:.1f} vs {base.get(key, 0.0) / base_scale:.1f}"
                       if differ else "")
            print(f"  {us:+7.1f}  {key}   ({by.get(key, 0.0):.1f} vs {base.get(key, 0.0):.1f}{sampled})")
        otel = sum(v for k, v in delta.items() if "opentelemetry" in k)
        ours = delta.get("service telemetry.js", 0.0)
        sampled_otel = sum(by.get(k, 0.0) / scale - base.get(k, 0.0) / base_scale for k in delta if "opentelemetry" in k)
        print(f"  OpenTelemetry packages' own code: {otel:+.1f} us; the template's src/telemetry.js: {ours:+.1f} us; "
              f"total {sum(delta.values()):+.1f} us"
              + (f" (sampled: OpenTelemetry packages {sampled_otel:+.1f} us, total "
                 f"{sum(by.values()) / scale - sum(base.values()) / base_scale:+.1f} us)" if differ else ""))


def task_memory_mib(value: str) -> int:
    """--task-memory: a whole number of MiB more than the collector sidecar's, 0 for no emulation;
    ValueError otherwise."""
    if not re.fullmatch(r"[0-9]+", value.strip()) or 0 < int(value) <= COLLECTOR_MEMORY_MIB:
        raise ValueError(value)
    return int(value)


def open_task_memory(mib: int, **where) -> tuple[MemoryCgroups | None, str]:
    """The cgroups that give each service the task's memory, or None; and the report's line about it.
    `where`: MemoryCgroups' root and self_cgroup, for a model of /sys/fs/cgroup."""
    if mib == 0:
        return None, "task memory not emulated (--task-memory 0): V8 sized from this machine's memory"
    try:
        cgroups = MemoryCgroups(mib, **where)
    except MemoryCgroupUnavailable as e:
        return None, f"task memory not emulated: {e}"
    return cgroups, f"task memory {mib} MiB (a memory cgroup per service, {cgroups.description})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--example-requests", type=int, default=4000)
    parser.add_argument("--healthz-requests", type=int, default=15000)
    parser.add_argument("--warmup", type=int, default=6000,
                        help="/api/example requests each setup serves before the first repeat: the steady state a "
                             "task pays for (V8 optimizes the instrumented paths only after thousands of "
                             "requests: after 1,500 the first repeat was still the dearest of every setup, "
                             "by 15 to 30 %%; see docs/telemetry.md)")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--settle", type=float, default=6.0,
                        help="seconds after each /api/example load that still count for it: the batch span "
                             "processor exports its last spans within 5 s, and the GC of that load's garbage "
                             "follows; otherwise both land in the next load measured")
    parser.add_argument("--startups", type=int, default=7, help="start-ups per setup (median)")
    parser.add_argument("--blocks", type=int, default=3, help="event-loop block measurements per setup (median)")
    parser.add_argument("--only-blocks", action="store_true",
                        help="measure and print only the event-loop block of each setup (quick)")
    parser.add_argument("--production-ratio", type=float, default=PRODUCTION_RATIO,
                        help="root sampling ratio of the production default (default %(default)s)")
    parser.add_argument("--variants", action="store_true", help="also measure the options not chosen")
    parser.add_argument("--profile", metavar="SETUPS",
                        help="CPU-profile these setups' load of --profile-endpoint, e.g. bare,ours,ours+off")
    parser.add_argument("--profile-endpoint", choices=sorted(PROFILED),
                        help="the endpoint --profile profiles: example (/api/example, the default) or healthz")
    parser.add_argument("--no-profile", dest="profile_missed", action="store_false",
                        help="do not profile the setups whose CPU per request target is missed (by default "
                             "each is profiled after the run and printed next to bare)")
    parser.add_argument("--task-memory", metavar="MIB", default=str(PRODUCTION_TASK_MEMORY_MIB),
                        help="run every service in a memory cgroup of this many MiB, so Node sizes V8's heap "
                             "as in an ECS task of that memory (default %(default)s: the production task's, "
                             "template/infra/environments/production.tfvars; staging's is 1024); 0: do not "
                             "emulate, V8 sized from this machine's memory")
    args = parser.parse_args(argv)
    if args.profile_endpoint and not args.profile:
        parser.exit(2, "otel_overhead.py: --profile-endpoint is allowed only with --profile SETUPS (it names the "
                       f"endpoint those setups' profile loads: {', '.join(sorted(PROFILED))})\n")
    args.profile_endpoint = args.profile_endpoint or "example"
    try:
        args.task_memory = task_memory_mib(args.task_memory)
    except ValueError:
        parser.exit(2, f"otel_overhead.py: --task-memory {args.task_memory!r} is not allowed: a whole number of "
                       f"MiB more than the collector sidecar's {COLLECTOR_MEMORY_MIB}, the task's memory (e.g. 1024 "
                       "or 2048), or 0 for no emulation\n")
    # SIGTERM unwinds like Ctrl-C: services stopped, memory cgroups removed
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    limit = args.task_memory - COLLECTOR_MEMORY_MIB if args.task_memory else 0
    task_cgroups, args.task_memory_note = open_task_memory(limit)
    if task_cgroups is None:
        print(f"{args.task_memory_note}; measuring with this machine's memory", file=sys.stderr)
    else:
        args.task_memory_note = (f"task memory {args.task_memory} MiB: the app container's hard limit "
                                 f"{limit} MiB (the task's less the collector's {COLLECTOR_MEMORY_MIB}), "
                                 f"a memory cgroup per service ({task_cgroups.description})")
    args.task_memory_emulated = limit if task_cgroups else None
    try:
        return measure(args, task_cgroups)
    finally:
        if task_cgroups:
            task_cgroups.close()


def measure(args, task_cgroups: MemoryCgroups | None) -> int:
    env24 = node_env(24)
    ratio = str(args.production_ratio)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate(tmp / "svc", {"trace_sample_ratio": 1.0}, str(REPO), vcs_ref="HEAD")
        stage = prepare_runtime(tmp / "svc", tmp / "app", build_args={"SERVICE_VERSION": "1.2.3"})
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-save", NAIVE_PACKAGE],
                       cwd=tmp / "app", env=env24, check=True, stdout=subprocess.DEVNULL)
        (tmp / "downstream.js").write_text(DOWNSTREAM_JS)
        port = free_port()
        downstream = subprocess.Popen(["node", str(tmp / "downstream.js"), str(port)], env=env24)
        time.sleep(0.5)
        try:
            with OtlpSink(decode=False) as sink:
                base = {"DOWNSTREAM_URL": f"http://127.0.0.1:{port}/", "LOG_LEVEL": "info",
                        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
                naive = dict(base, OTEL_TRACES_EXPORTER="otlp", OTEL_METRICS_EXPORTER="otlp",
                             OTEL_LOGS_EXPORTER="otlp", OTEL_SERVICE_NAME="demo-service")
                sampled = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}
                app = tmp / "app"
                setups = [
                    Setup("bare", app, stage, base, ""),
                    Setup("ours", app, stage, dict(base, OTEL_TRACES_SAMPLER_ARG="1.0"), None),
                    Setup("ours@prod", app, stage, dict(base, OTEL_TRACES_SAMPLER_ARG=ratio), None),
                    Setup("naive", app, stage, naive, NAIVE_PRELOAD),
                    Setup("naive@prod", app, stage, dict(naive, **sampled, OTEL_TRACES_SAMPLER_ARG=ratio),
                          NAIVE_PRELOAD),
                ]
                if args.variants:
                    setups += [
                        Setup("ours+otlplogs", app, stage, dict(base, OTEL_LOGS_EXPORTER="otlp"), None),
                        Setup("ours+off", app, stage, dict(base, OTEL_TRACES_SAMPLER="always_off"), None),
                        Setup("ours-cache", app, stage, dict(base, NODE_DISABLE_COMPILE_CACHE="1"), None),
                    ]
                for s in setups:
                    s.memory_cgroup = task_cgroups.create(s.name) if task_cgroups else None
                if args.only_blocks:
                    blocks = loop_blocks(setups, args.blocks)
                    for name, (block, runs) in blocks.items():
                        print(f"{name:<14} event-loop block {_ms(block)}  runs: {runs}")
                    return 0
                if args.profile:
                    names = args.profile.split(",")
                    print_profiles({n: profile(next(s for s in setups if s.name == n), args, env24, tmp,
                                               args.profile_endpoint)
                                    for n in names}, PROFILED[args.profile_endpoint][0])
                    return 0
                load_before = os.getloadavg()[0]
                results = run(setups, args, env24, sink, tmp)
                args.load_average = (load_before, os.getloadavg()[0])
                missed = report(results, args)
                if missed and args.profile_missed:
                    # Each CPU target missed, with where the time goes: a V8 CPU profile of the
                    # setup's load of that endpoint next to bare's, by origin (package, node: module).
                    by_name = {s.name: s for s in setups}
                    for endpoint in PROFILED:
                        names = [n for n, e in missed if e == endpoint]
                        if names:
                            print_profiles({n: profile(by_name[n], args, env24, tmp, endpoint)
                                            for n in ["bare", *names]}, PROFILED[endpoint][0])
        finally:
            downstream.terminate()
    return 0


def _node_memory(seen: dict | None) -> str:
    if seen is None:
        return "n/a"
    constrained = "no limit" if seen["constrained_mib"] is None else seen["constrained_mib"]
    return f"{constrained}/{seen['heap_limit_mib']} MiB"


def _rss_condition(args) -> str:
    if not hasattr(args, "task_memory_note"):
        return ""
    emulated = getattr(args, "task_memory_emulated", None)
    return (f", heap sized for the app container's {emulated} MiB limit" if emulated
            else ", heap sized from this machine's memory")


def _ms(value) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def loop_blocks(setups: list[Setup], times: int) -> dict[str, tuple[float | None, list]]:
    """Median longest event-loop block while each setup loads its exporters
    (None when they were loaded before the service answered its first request)."""
    out = {}
    for s in setups:
        runs = [event_loop_block(s.runtime_dir, s.stage, 24, env=s.env, node_options=s.node_options,
                                 preexec_fn=s.preexec_fn)
                for _ in range(times)]
        measured = [r["max_cpu_ms"] for r in runs if r["exporters_loaded_in_window"] and r["max_cpu_ms"] is not None]
        out[s.name] = (median(measured) if measured else None,
                       [f"{r['max_cpu_ms'] or 0:.1f} cpu/{r['max_ms'] or 0:.1f} wall" for r in runs])
    return out


def run(setups: list[Setup], args, tool_env, sink, tmp: Path) -> dict:
    results = {s.name: {} for s in setups}
    for name, (block, runs) in loop_blocks(setups, args.blocks).items():
        results[name]["loop_block_ms"], results[name]["loop_block_all"] = block, runs
    for name, values in startups(setups, args.startups).items():
        results[name]["startup_s"] = median(values)
        results[name]["startup_all"] = [round(v, 3) for v in values]
    # Memory: every setup serves the same requests. The target is the RSS
    # under load (after each repeat's loads, median); the peak (VmHWM) and
    # what a forced full GC leaves are printed beside it.
    rss: dict[str, list[float]] = {s.name: [] for s in setups}
    memory_files = {s.name: tmp / f"memory-{s.name}.json" for s in setups}
    limits_files = {s.name: tmp / f"limits-{s.name}.json" for s in setups}
    running = {s.name: s.start(f"--expose-gc --require {HEAP_PROBE}",
                               {"PAVED_BENCH_MEMORY_FILE": str(memory_files[s.name]),
                                "PAVED_BENCH_LIMITS_FILE": str(limits_files[s.name])}) for s in setups}
    try:
        for s in setups:
            svc = running[s.name]
            svc.wait_ready()
            results[s.name]["node_memory"] = seen = node_memory(limits_files[s.name])
            task_mib = s.memory_cgroup.limit_bytes // 2**20 if s.memory_cgroup else None
            if task_mib and (seen is None or seen["constrained_mib"] != task_mib):
                raise RuntimeError(f"{s.name}: Node does not see the app container's {task_mib} MiB limit "
                                   f"({s.memory_cgroup.path}): {seen}")
            load(svc.base_url + "/healthz", HEALTHZ_WARMUP, args.connections, tool_env, svc.proc.pid)  # warm-up
        # Probes first, before any other request: what a probe itself costs.
        # Measured after /api/example loads, the /healthz figure carried those
        # loads' deferred work: V8 runs the major GC of the spans and requests
        # they promoted when it chooses, sometimes after --settle, so ours read
        # 19 us against bare's 16 while probes alone cost the same (docs/telemetry.md).
        for _ in range(args.repeats):
            for s in setups:  # interleaved: machine drift hits every setup alike
                svc = running[s.name]
                s.samples["healthz"].append(load(svc.base_url + "/healthz", args.healthz_requests,
                                                 args.connections, tool_env, svc.proc.pid))
        for s in setups:
            svc = running[s.name]
            load(svc.base_url + "/api/example", args.warmup, args.connections, tool_env, svc.proc.pid)  # warm-up
        for _ in range(args.repeats):
            for s in setups:
                svc = running[s.name]
                s.samples["example"].append(load(svc.base_url + "/api/example", args.example_requests,
                                                 args.connections, tool_env, svc.proc.pid, args.settle))
                rss[s.name].append(rss_mb(svc.proc.pid))
        for s in setups:
            svc = running[s.name]
            results[s.name]["rss_mb"] = median(rss[s.name])
            results[s.name]["rss_all"] = [round(v) for v in rss[s.name]]
            results[s.name]["rss_peak_mb"] = rss_mb(svc.proc.pid, "VmHWM")
            results[s.name]["rss_gc_mb"], results[s.name]["heap_mb"] = settled_memory_mb(svc.proc,
                                                                                          memory_files[s.name])
    finally:
        for svc in running.values():
            svc.terminate()
            svc.kill()
    bare = setups[0]
    for s in setups:
        r = results[s.name]
        for route in ("example", "healthz"):
            r[route] = {k: median([x[k] for x in s.samples[route]]) for k in ("cpu_us", "rps", "p99", "errors")}
            r[route]["cpu_us_all"] = [round(x["cpu_us"]) for x in s.samples[route]]
            if all("threads_us" in x for x in s.samples[route]):
                r[route]["threads_us"] = {g: median([x["threads_us"][g] for x in s.samples[route]])
                                          for g in (*THREAD_GROUPS, UNATTRIBUTED)}
            # Paired with bare's load of the same repeat, which ran seconds apart.
            r[route]["ratio"] = median([x["cpu_us"] / b["cpu_us"]
                                        for x, b in zip(s.samples[route], bare.samples[route])])
        r["exit_code"], r["exit_s"], r["flushed"] = exit_with_flush(s, sink)
    return results


def report(results: dict, args) -> list[tuple[str, str]]:
    """Prints the figures and each target met or MISSED; returns (setup, endpoint) of each CPU per request
    target missed, the profiles that explain them."""
    bare = results["bare"]
    print(f"\nNode 24.21.0; autocannon -c {args.connections}; {args.repeats} repeats (median) of "
          f"{args.healthz_requests} requests on /healthz, all /healthz repeats first (after {HEALTHZ_WARMUP} of "
          f"warm-up, before any other request), then {args.repeats} of {args.example_requests} on /api/example (after "
          f"{args.warmup} of warm-up; CPU counted until {getattr(args, 'settle', 0):g} s after); "
          f"production default sampling {args.production_ratio}; 2 shared cores")
    before, after = getattr(args, "load_average", (None, None))
    if before is not None:
        # The targets are stated for a quiet machine: a load this high means other work shared the cores.
        print(f"load average (1 min) {before:.1f} before the measurements, {after:.1f} after"
              f"{'' if max(before, after) < 1 else ': not a quiet machine, read the ratios as noisy'}")
    note = getattr(args, "task_memory_note", None)
    if note:
        print(f"{note}; each service's Node sees (process.constrainedMemory() / V8 heap limit): " + ", ".join(
            f"{n} {_node_memory(r.get('node_memory'))}" for n, r in results.items()))
    print()
    print(f"{'setup':<14}{'/api/example CPU/req':>24}{'rps':>8}{'/healthz CPU/req':>22}{'rps':>8}"
          f"{'start-up':>18}{'RSS MB':>14}{'peak RSS':>12}{'after GC':>12}{'heap':>11}{'SIGTERM->exit':>22}"
          f"{'loop block':>12}")

    def ratio(r, route):
        return r[route]["ratio"]

    for name, r in results.items():
        print(f"{name:<14}{r['example']['cpu_us']:>10.0f} us ({ratio(r, 'example'):4.2f}x){r['example']['rps']:>8.0f}"
              f"{r['healthz']['cpu_us']:>10.0f} us ({ratio(r, 'healthz'):4.2f}x){r['healthz']['rps']:>8.0f}"
              f"{r['startup_s']:>8.2f}s ({(r['startup_s'] - bare['startup_s']) * 1000:+5.0f}ms)"
              f"{r['rss_mb']:>7.0f} ({r['rss_mb'] - bare['rss_mb']:+4.0f})"
              f"{r['rss_peak_mb']:>5.0f} ({r['rss_peak_mb'] - bare['rss_peak_mb']:+4.0f})"
              f"{r['rss_gc_mb']:>5.0f} ({r['rss_gc_mb'] - bare['rss_gc_mb']:+4.0f})"
              f"{r['heap_mb']:>4.0f} ({r['heap_mb'] - bare['heap_mb']:+3.0f})"
              f"{r['exit_s']:>7.2f}s rc={r['exit_code']} flush={r['flushed']}"
              f"{_ms(r['loop_block_ms']):>12}")
    print("\nCPU per request of each repeat (us): " + "; ".join(
        f"{n} {r['example']['cpu_us_all']} / {r['healthz']['cpu_us_all']}" for n, r in results.items()))
    print("RSS after each repeat's loads (MB): " + "; ".join(
        f"{n} {r.get('rss_all', [])}" for n, r in results.items()))
    if all("threads_us" in r["example"] for r in results.values()):
        # Each thread's time is counted in whole clock ticks, its user/kernel split from the ticks the
        # kernel sampled: a difference of a tick or two is no difference.
        tick_us = 1e6 / os.sysconf("SC_CLK_TCK") / args.example_requests
        print(f"/api/example CPU per request by thread, median of the repeats (us; beside bare's). One clock "
              f"tick of one thread is {tick_us:.1f} us per request over {args.example_requests} requests: "
              f"differences within a few ticks are noise. {UNATTRIBUTED}: the process's CPU less its "
              "threads' (threads that ended during the load, rounding):")
        for n, r in results.items():
            print(f"  {n:<12} " + ", ".join(
                f"{g} {r['example']['threads_us'][g]:.0f}"
                + ("" if n == "bare" else f" ({r['example']['threads_us'][g] - bare['example']['threads_us'][g]:+.0f})")
                for g in (*THREAD_GROUPS, UNATTRIBUTED) if g in r["example"]["threads_us"]))

    ours, prod, naive, naive_prod = (results[k] for k in ("ours", "ours@prod", "naive", "naive@prod"))
    # An unsampled request's CPU, from the production default's mix of sampled
    # and unsampled ones; "clearly less" than a sampled one: further apart than
    # the repeats of either setup spread.
    share = args.production_ratio
    sampled_us = ours["example"]["cpu_us"]
    unsampled_us = ((prod["example"]["cpu_us"] - share * sampled_us) / (1 - share)) if share < 1 else sampled_us
    spread_us = max(max(r["example"]["cpu_us_all"]) - min(r["example"]["cpu_us_all"]) for r in (ours, prod))
    targets = [
        ("/api/example CPU/req <= 1.5x bare at 100% sampling", ratio(ours, "example") <= 1.5, ("ours", "example")),
        (f"/api/example CPU/req <= 1.3x bare at the production default ({args.production_ratio})",
         ratio(prod, "example") <= 1.3, ("ours@prod", "example")),
        (f"an unsampled request costs clearly less than a sampled one: about {unsampled_us:.0f} vs "
         f"{sampled_us:.0f} us (derived from {args.production_ratio} and 100% sampling), more than the "
         f"repeats' spread ({spread_us:.0f} us) apart", sampled_us - unsampled_us > spread_us,
         ("ours@prod", "example")),
        ("/healthz CPU/req <= 1.1x bare", ratio(ours, "healthz") <= 1.1, ("ours", "healthz")),
        ("start-up <= +100 ms", ours["startup_s"] - bare["startup_s"] <= 0.100),
        ("RSS <= +30 MB (under load: after each repeat's loads, median; the peak and after a forced full "
         f"GC are printed beside it){_rss_condition(args)}", ours["rss_mb"] - bare["rss_mb"] <= 30),
        ("exporters load without blocking the event loop > 10 ms",
         ours["loop_block_ms"] is not None and ours["loop_block_ms"] <= 10),
        ("SIGTERM -> exit <= 1 s, rc 0, spans flushed",
         ours["exit_s"] <= 1 and ours["exit_code"] == 0 and ours["flushed"] > 0),
        ("better than naive: /api/example CPU/req at 100%", ratio(ours, "example") < ratio(naive, "example")),
        ("better than naive: /api/example CPU/req at the production default",
         ratio(prod, "example") < ratio(naive_prod, "example")),
        ("better than naive: /healthz CPU/req", ratio(ours, "healthz") < ratio(naive, "healthz")),
        ("better than naive: start-up", ours["startup_s"] < naive["startup_s"]),
        ("better than naive: RSS", ours["rss_mb"] < naive["rss_mb"]),
        # The naive preload's own SIGTERM handler flushes asynchronously; the app's
        # exit wins, so the last spans are lost (flush=0), or it never exits.
        ("better than naive: SIGTERM -> exit with flush",
         ours["flushed"] > 0 and ours["exit_code"] == 0 and ours["exit_s"] <= 1 and
         (naive["exit_code"] is None or naive["flushed"] == 0 or ours["exit_s"] <= naive["exit_s"])),
    ]
    print()
    explain = []
    for label, ok, *profiled in targets:
        note = ""
        if not ok and profiled:
            name, endpoint = profiled[0]
            note = (f" (where the CPU goes: the profile of {name} on {PROFILED[endpoint][0]}, below)"
                    if getattr(args, "profile_missed", False) else "")
            if profiled[0] not in explain:
                explain.append(profiled[0])
        print(f"  [{'met' if ok else 'MISSED'}] {label}{note}")
    out = REPO / ".cache" / "otel_overhead.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    return explain


if __name__ == "__main__":
    raise SystemExit(main())
