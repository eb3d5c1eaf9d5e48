"""bench/otel_overhead.py prints every target of issue 21 as met or MISSED,
among them "an unsampled request must cost clearly less than a sampled one"."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time

import pytest
from bench_reports import report_args, run_results


def _report(bench, capsys, sampled: list[float], production: list[float], load=(0.3, 0.4), lines="unsampled request",
            ours_memory: dict | None = None):
    results = run_results(sampled, production)
    results["ours"].update(ours_memory or {})
    bench.report(results, report_args(load_average=load))
    return [line for line in capsys.readouterr().out.splitlines() if lines in line]


def test_an_unsampled_request_clearly_cheaper_than_a_sampled_one_is_met(bench, capsys):
    # sampled 360 us; at 0.1, 300 us: an unsampled one about 293 us, 67 us apart, repeats within 10 us
    (line,) = _report(bench, capsys, [355, 360, 365], [295, 300, 305])
    assert line.strip().startswith("[met]"), line
    assert "293" in line and "360" in line, line


def test_an_unsampled_request_costing_what_a_sampled_one_costs_is_missed(bench, capsys):
    # 0.1 costs 95 % of 1.0 and the repeats spread wider than the difference: not "clearly less"
    (line,) = _report(bench, capsys, [340, 360, 380], [330, 342, 360])
    assert line.strip().startswith("[MISSED]"), line


def test_the_load_average_of_the_run_is_printed_with_the_figures(bench, capsys):
    (quiet,) = _report(bench, capsys, [355, 360, 365], [295, 300, 305], load=(0.3, 0.4), lines="load average")
    assert "0.3" in quiet and "0.4" in quiet and "not a quiet machine" not in quiet, quiet
    (busy,) = _report(bench, capsys, [355, 360, 365], [295, 300, 305], load=(3.2, 5.1), lines="load average")
    assert "3.2" in busy and "5.1" in busy and "not a quiet machine" in busy, busy


def test_rss_is_judged_under_load_and_the_peak_and_after_gc_are_printed_beside_it(bench, capsys):
    # ours holds 12 MB more under load; its peak is 80 MB higher; a forced GC leaves 5 MB more
    memory = {"rss_mb": 212, "rss_peak_mb": 330, "rss_gc_mb": 65, "heap_mb": 17}
    (target,) = _report(bench, capsys, [355, 360, 365], [295, 300, 305], lines="RSS <=", ours_memory=memory)
    assert target.strip().startswith("[met]") and "under load" in target, target
    (row,) = _report(bench, capsys, [355, 360, 365], [295, 300, 305], lines="ours   ", ours_memory=memory)
    assert "212 ( +12)" in row and "330 ( +80)" in row and "65 (  +5)" in row and "17 ( +5)" in row, row
    # 45 MB more under load is missed, however little a forced full GC leaves
    (missed,) = _report(bench, capsys, [355, 360, 365], [295, 300, 305], lines="RSS <=",
                        ours_memory={"rss_mb": 245, "rss_peak_mb": 260, "rss_gc_mb": 62, "heap_mb": 13})
    assert missed.strip().startswith("[MISSED]"), missed


def test_the_heap_probe_reports_what_a_process_keeps_not_its_garbage(bench, tmp_path):
    """A Node process that made 200 MB of garbage and keeps 20 MB: after the
    probe's full GC its heap holds the 20 MB, not the 200."""
    from paved_road.local.node_toolchain import node_env

    script = tmp_path / "garbage.js"
    script.write_text("globalThis.kept = Array.from({ length: 20 }, () => new Array(1 << 17).fill(1))\n"
                      "let junk = []; for (let i = 0; i < 200; i++) junk.push(new Array(1 << 17).fill(i))\n"
                      "junk = null\n"
                      "console.log('ready'); setInterval(() => {}, 1000)\n")
    memory_file = tmp_path / "memory.json"
    proc = subprocess.Popen(["node", "--expose-gc", "--require", str(bench.HEAP_PROBE), str(script)],
                            env=dict(node_env(24), PAVED_BENCH_MEMORY_FILE=str(memory_file)),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        peak = bench.rss_mb(proc.pid, "VmHWM")
        rss, heap = bench.settled_memory_mb(proc, memory_file)
    finally:
        proc.kill()
        proc.wait()
    assert peak > 200, peak
    assert heap < 60 and rss < peak - 100, (rss, heap, peak)


def test_the_rss_target_is_judged_on_what_the_running_service_holds_not_after_a_forced_gc(bench, tmp_path,
                                                                                            monkeypatch):
    """The issue's "RSS <= +30 MB" is the memory a running service holds,
    which is what the task's memory limit and ECSServiceAverageMemoryUtilization
    (the autoscaling target in terraform-modules/ecs-service) see: VmRSS after
    each repeat's loads, the median. A last-resort full GC never happens in a
    task; what it frees (the spans' and requests' garbage, promoted while the
    batch processor holds them) is telemetry's cost too. Here ours holds 45 MB
    more under load and 8 MB more after the forced GC: the judged figure is
    the 45."""
    under_load = {"bare": iter([260.0, 294.0, 295.0]), "ours": iter([287.0, 339.0, 340.0])}
    after_gc = {"bare": (127.0, 14.0), "ours": (135.0, 19.0)}
    pids = {"bare": 1, "ours": 2}

    class FakeService:
        def __init__(self, name):
            self.name, self.base_url = name, "http://x"
            self.proc = argparse.Namespace(pid=pids[name])

        def wait_ready(self):
            return 0.1

        def terminate(self):
            return 0, 0.1

        def kill(self):
            pass

    names = {v: k for k, v in pids.items()}
    monkeypatch.setattr(bench.Setup, "start", lambda self, *a, **k: FakeService(self.name))
    monkeypatch.setattr(bench, "loop_blocks", lambda setups, times: {s.name: (2.0, []) for s in setups})
    monkeypatch.setattr(bench, "startups", lambda setups, times: {s.name: [0.3] for s in setups})
    monkeypatch.setattr(bench, "exit_with_flush", lambda s, sink: (0, 0.2, 3))
    monkeypatch.setattr(bench, "load", lambda url, amount, connections, env, pid, settle=0.0:
                        {"cpu_us": 300.0, "rps": 1000, "p99": 10, "errors": 0})
    monkeypatch.setattr(bench, "rss_mb", lambda pid, field="VmRSS":
                        next(under_load[names[pid]]) if field == "VmRSS" else {1: 296.0, 2: 341.0}[pid])
    monkeypatch.setattr(bench, "settled_memory_mb", lambda proc, memory_file: after_gc[names[proc.pid]])
    setups = [bench.Setup("bare", tmp_path, None, {}, ""), bench.Setup("ours", tmp_path, None, {}, None)]
    args = argparse.Namespace(blocks=1, startups=1, warmup=10, connections=1, repeats=3, example_requests=10,
                              healthz_requests=10, settle=0.0)
    results = bench.run(setups, args, {}, None, tmp_path)
    assert (results["bare"]["rss_mb"], results["ours"]["rss_mb"]) == (294.0, 339.0)
    assert results["ours"]["rss_mb"] - results["bare"]["rss_mb"] > 30  # missed, as the service really holds it
    assert (results["ours"]["rss_gc_mb"], results["ours"]["heap_mb"]) == (135.0, 19.0)  # still printed


def test_a_missed_cpu_target_names_the_profile_that_explains_it(bench, capsys):
    """By default the bench profiles each setup whose CPU per request target is
    missed (report() returns them) and says so on the target's line; a met
    target names no profile."""
    results = run_results([355, 360, 365], [340, 345, 350])
    args = report_args(profile_missed=True)
    # 1.44x at 100 % is met, 1.38x at 0.1 is not
    assert bench.report(results, args) == [("ours@prod", "example")]
    lines = capsys.readouterr().out.splitlines()
    (full,) = [line for line in lines if "at 100% sampling" in line and "<= 1.5x" in line]
    (prod,) = [line for line in lines if "at the production default (0.1)" in line and "<= 1.3x" in line]
    assert full.strip().startswith("[met]") and "profile" not in full, full
    assert prod.strip().startswith("[MISSED]") and "the profile of ours@prod on /api/example, below" in prod, prod
    args.profile_missed = False  # --no-profile
    assert bench.report(results, args) == [("ours@prod", "example")]
    assert "below" not in capsys.readouterr().out


def test_a_profile_shows_where_a_setup_spends_more_than_bare_and_the_templates_own_share(bench, capsys):
    bench.print_profiles({
        "bare": {"node:internal/deps/undici/undici": 36.0, "((garbage collector))": 20.0, "pino": 3.0},
        "ours@prod": {"node:internal/deps/undici/undici": 52.0, "((garbage collector))": 27.0, "pino": 6.0,
                      "@opentelemetry/sdk-trace": 6.8, "@opentelemetry/sdk-metrics": 4.8,
                      "service telemetry.js": 3.8}})
    out = capsys.readouterr().out
    assert "where ours@prod spends more than bare" in out
    assert out.index("+16.0  node:internal/deps/undici/undici") < out.index("+7.0  ((garbage collector))")
    assert "OpenTelemetry packages' own code: +11.6 us; the template's src/telemetry.js: +3.8 us; total +41.4 us" in out


def test_a_profiles_total_is_the_setups_time_less_bares_even_where_only_bare_spent_it(bench, capsys):
    """The total beside bare is what the setup's sampled time per request
    exceeds bare's by: time bare spent in an origin the setup's profile has no
    sample of counts as less, not as nothing."""
    bare = {"node:internal/deps/undici/undici": 36.0, "((program))": 5.0}
    ours = {"node:internal/deps/undici/undici": 40.0, "@opentelemetry/sdk-trace": 6.0}
    bench.print_profiles({"bare": bare, "ours": ours})
    out = capsys.readouterr().out
    assert f"total {sum(ours.values()) - sum(bare.values()):+.1f} us" in out, out  # +5.0, not +10.0
    assert "-5.0  ((program))" in out, out


def test_a_missed_healthz_target_is_profiled_on_healthz(bench, capsys):
    """/healthz CPU per request is a CPU target too: missed, it names the
    profile of ours on /healthz (as the runs of issue 21 missed it, 19 vs 16 us),
    which report() returns for main() to take."""
    results = run_results([355, 360, 365], [300, 300, 300])
    results["ours"]["healthz"].update(cpu_us=24, ratio=1.2)
    args = report_args(profile_missed=True)
    assert ("ours", "healthz") in bench.report(results, args)
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "/healthz CPU/req <= 1.1x" in x]
    assert line.strip().startswith("[MISSED]") and "the profile of ours on /healthz, below" in line, line
    assert bench.PROFILED["healthz"][0] == "/healthz"
    assert bench.PROFILE_INTERVAL_US["healthz"] <= 100  # ~20 us a request: 1 ms samples are too few


def test_a_profile_counts_the_samples_of_the_measured_load_by_time_not_by_the_routes_file(bench):
    """Bare's /healthz profile has no sample whose leaf is routes/health.js (V8 inlines the one-line
    handler): the bench stopped with "the CPU profile has no sample of the measured load" after a whole
    run. The load is bounded by its start and end on the monotonic clock V8's profile uses."""
    # a sample every 100 us, the first at 1100: warm-up before 1300, the load 1300..1700, shutdown after
    prof = {"startTime": 1000, "endTime": 2000, "samples": [1, 2, 3, 2, 3, 2, 1, 4, 4, 1],
            "timeDeltas": [100] * 10}
    assert bench.measured_samples(prof, 1300, 1700) == [(3, 100), (2, 100), (3, 100), (2, 100), (1, 100)]
    with pytest.raises(RuntimeError, match=r"no sample in the measured load \(2500 \.\. 2600 us\)"):
        bench.measured_samples(prof, 2500, 2600)


class _FakeService:
    base_url = "http://svc"
    proc = argparse.Namespace(pid=1)

    def wait_ready(self):
        pass

    def terminate(self):
        pass


def test_a_profile_warms_up_as_the_run_does_so_healthz_is_profiled_before_any_api_example(bench, tmp_path,
                                                                                         monkeypatch):
    """run() measures /healthz on services that have served nothing else; a
    missed /healthz target's profile must profile that, not probes after an
    /api/example warm-up (whose deferred GC the ordering keeps out)."""
    calls = []
    monkeypatch.setattr(bench, "load", lambda url, n, *a, **k: calls.append((url.split("/", 3)[-1], n)) or
                        {"cpu_us": 20.0})
    setup = argparse.Namespace(name="ours", start=lambda flags="": _FakeService())
    args = argparse.Namespace(connections=10, example_requests=4000, healthz_requests=15000, warmup=6000)
    for endpoint in ("healthz", "example"):
        calls.clear()
        with pytest.raises(StopIteration):  # no profile file: stop after the loads
            bench.profile(setup, args, {}, tmp_path, endpoint)
        measured = calls[-1]
        assert measured[0] == ("healthz" if endpoint == "healthz" else "api/example"), calls
        if endpoint == "healthz":
            assert all(url == "healthz" for url, _ in calls), calls
        else:
            assert calls == [("healthz", 3000), ("api/example", 6000), ("api/example", 4000)], calls


def test_a_scaled_profile_also_shows_the_sampled_difference_when_the_scales_differ(bench, capsys):
    """Self times are scaled to /proc's CPU, each profile by its own factor
    (bare 1.45, ours@prod 2.15 in the 1792 MiB run of issue 21): an origin
    the samples show cheaper can read dearer once scaled (Node's undici
    82.1 vs 59.0 us scaled, 38.2 vs 40.7 sampled). The sampled figures are
    printed beside the scaled ones."""
    bare = bench.Profile({"node:internal/deps/undici/undici": 59.0, "pino": 4.7}, scale=1.45)
    ours = bench.Profile({"node:internal/deps/undici/undici": 82.1, "pino": 13.0}, scale=2.15)
    bench.print_profiles({"bare": bare, "ours@prod": ours})
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "undici/undici" in x]
    assert "+23.1" in line and "sampled 38.2 vs 40.7" in line, line
    assert "scaled by 2.15 (bare 1.45)" in out, out


def test_the_header_says_every_healthz_repeat_comes_before_any_api_example_request(bench, capsys):
    """run() measures all /healthz repeats, then warms up and measures /api/example:
    the header must not read as if each repeat alternated the two."""
    (line,) = _report(bench, capsys, [300, 300, 300], [280, 280, 280], lines="autocannon")
    assert "all /healthz repeats first" in line and "per repeat 15000 requests on /healthz first" not in line, line


def test_cpu_is_split_by_thread_the_main_threads_own_and_v8s_workers(bench, node24_env):
    """A real Node process that burns CPU on its main thread, then makes V8's
    GC threads work: the bench's per-thread counts put the first on the main
    thread (user time) and count V8's worker threads apart."""
    script = ("const t0 = Date.now(); let x = 0; while (Date.now() - t0 < 700) x++;"
              "const keep = []; const t1 = Date.now();"
              "while (Date.now() - t1 < 1500) { keep.push(new Array(1000).fill(x)); if (keep.length > 2000) keep.length = 0 }"
              "setTimeout(() => {}, 3000)")
    # A small heap: enough for its GC work, and not hundreds of MB of garbage on a shared machine
    proc = subprocess.Popen(["node", "--max-old-space-size=48", "--max-semi-space-size=1", "-e", script],
                            env=node24_env)
    try:
        time.sleep(2.6)
        seconds = bench.thread_seconds(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert set(seconds) <= set(bench.THREAD_GROUPS), seconds
    assert seconds["main user"] >= 0.6, seconds
    assert seconds["V8 workers"] > 0, seconds


def test_a_thread_that_ends_during_a_load_takes_no_cpu_from_the_others_and_the_split_adds_up(bench, node24_env):
    """A real Node process: a worker thread burns CPU and ends between the two snapshots, then the main
    thread burns CPU. The thread that ended must not pull "other threads" below zero (its CPU before
    the first snapshot is not the load's), and the groups plus what is not attributed to a live thread
    must be the process's CPU between the snapshots, as /proc/<pid>/stat counts it."""
    script = ("const {Worker} = require('worker_threads');"
              "const w = new Worker('const t = Date.now(); let x = 0; while (Date.now() - t < 900) x++;',"
              " {eval: true});"
              "w.on('exit', () => setTimeout(() => { const t = Date.now(); let x = 0;"
              " while (Date.now() - t < 400) x++; console.log('burnt'); setTimeout(() => {}, 5000) }, 100))")
    proc = subprocess.Popen(["node", "-e", script], env=node24_env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not any(group == "other threads" and user + system >= 0.1
                      for group, user, system in bench.thread_times(proc.pid).values()):
            assert time.monotonic() < deadline, "the worker thread never burnt 0.1 s"
            time.sleep(0.02)
        before = bench.cpu_snapshot(proc.pid)  # the worker is burning
        assert proc.stdout.readline() == "burnt\n"  # it has ended, and the main thread has burnt
        after = bench.cpu_snapshot(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    split = bench.cpu_by_thread(before, after)
    total = after["total"] - before["total"]
    assert min(split[g] for g in bench.THREAD_GROUPS) >= 0, split
    assert split["main user"] >= 0.1, split
    assert abs(sum(split.values()) - total) < 1e-9, (split, total)
    assert split[bench.UNATTRIBUTED] >= 0.1, split  # the worker's CPU after the first snapshot


def test_the_thread_split_says_what_a_clock_tick_is_per_request_and_what_it_does_not_attribute(
        bench, capsys):
    """Each thread's CPU is counted in clock ticks (10 ms at 100 Hz): over 4,000 requests one tick of
    one thread is 2.5 us per request, so the table's single-digit differences are within a tick or two.
    The report says so, and prints what the process spent that no live thread accounts for."""
    results = run_results()
    for n in results:
        results[n]["example"]["threads_us"] = {"main user": 140.0, "main sys": 30.0, "V8 workers": 70.0,
                                               "other threads": 4.0, bench.UNATTRIBUTED: 6.0}
    bench.report(results, report_args(example_requests=4000))
    out = capsys.readouterr().out
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK") / 4000
    (header,) = [x for x in out.splitlines() if x.startswith("/api/example CPU per request by thread")]
    assert f"One clock tick of one thread is {tick_us:.1f} us per request over 4000 requests" in header, header
    (line,) = [x for x in out.splitlines() if x.strip().startswith("ours ") and "main user" in x]
    assert f"{bench.UNATTRIBUTED} 6 (+0)" in line, line


def test_the_report_prints_cpu_by_thread_beside_bares(bench, capsys):
    results = run_results()
    for n, main_user in (("bare", 140.0), ("ours", 230.0), ("ours@prod", 195.0), ("naive", 300.0),
                         ("naive@prod", 290.0)):
        results[n]["example"]["threads_us"] = {"main user": main_user, "main sys": 30.0, "V8 workers": 70.0,
                                               "other threads": 4.0}
    bench.report(results, report_args())
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("ours@prod ") and "main user" in x]
    assert "main user 195 (+55)" in line and "V8 workers 70 (+0)" in line, line


def test_a_healthz_profile_without_a_sample_in_routes_health_is_counted_from_the_loads_start_to_loads_return(
        bench, capsys, tmp_path, monkeypatch):
    """profile() itself, on a /healthz profile like bare's: the handler inlined, no sample's leaf in
    routes/health.js (the old bound raised, and the bench stopped after a whole run). The window is the
    monotonic clock read before load() and after it returned, the span /proc's CPU was counted over:
    the warm-up before it and the shutdown after it are left out, a GC after the last answer but before
    load() returned is counted (as /proc counts it), idle samples are dropped."""
    nodes = [(1, "(root)", ""), (2, "(idle)", ""), (3, "emit", "node:events"),
             (4, "parserOnIncoming", "node:_http_server"), (5, "(garbage collector)", "")]
    # a sample every 100 us from 1100: warm-up up to 1900, the measured load 2000 .. 2900, shutdown after
    samples = [4] * 9 + [3, 3, 3, 3, 3, 4, 4, 4, 2, 5] + [4, 4, 4]
    prof = {"nodes": [{"id": i, "callFrame": {"functionName": f, "url": u}} for i, f, u in nodes],
            "startTime": 1000, "endTime": 3300, "samples": samples, "timeDeltas": [100] * len(samples)}
    (tmp_path / "prof-bare-healthz").mkdir()
    (tmp_path / "prof-bare-healthz" / "x.cpuprofile").write_text(json.dumps(prof))
    now_ns = [1100_000]  # each load (the warm-up's, the measured one) takes 900 us on the monotonic clock

    def load(*a, **k):
        now_ns[0] += 900_000
        return {"cpu_us": 180.0}
    monkeypatch.setattr(bench, "time", argparse.Namespace(monotonic_ns=lambda: now_ns[0]))
    monkeypatch.setattr(bench, "load", load)
    setup = argparse.Namespace(name="bare", start=lambda flags="": _FakeService())
    args = argparse.Namespace(connections=10, example_requests=4000, healthz_requests=10, warmup=6000)
    by = bench.profile(setup, args, {}, tmp_path, "healthz")
    # sampled: 9 samples of 100 us over 10 requests, the idle one dropped: 90 us a request; scale 180 / 90
    assert "the profile sampled 90 us" in capsys.readouterr().out
    assert by.scale == pytest.approx(2.0)
    assert dict(by) == pytest.approx({"node:events": 100.0, "node:_http_server": 60.0, "((garbage collector))": 20.0})
