"""`make image-check`: build a generated service's Dockerfile for real, run it, measure it.

1. render a service from this checkout (copier), load the stand-in base image;
2. build the service's own Dockerfile and, side by side, the case study's
   approach (tests/image/fixtures/Dockerfile.case-study) with buildah;
3. start the image read-only with its own entrypoint/cmd/user/workdir/env
   (image_run.py), drive /healthz and /api/example (downstream: a local stub),
   collect the spans at an OTLP sink, send SIGTERM;
4. look inside the image: no dev dependencies, no npm cache, no tests, nothing
   in /app beyond what runs.

The functions return plain results; tests/image/test_image.py asserts on them,
`python tests/image/image_check.py` prints them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO_ROOT / "src"))

import image_base  # noqa: E402
import image_run  # noqa: E402
from image_buildah import Buildah, ImageInfo  # noqa: E402
from paved_road.local.local_run import Downstream  # noqa: E402
from paved_road.local.otel_sink import OtlpSink  # noqa: E402

CASE_STUDY_DOCKERFILE = HERE / "fixtures" / "Dockerfile.case-study"
SERVICE_NAME = "image-check-svc"
# What CI passes for a release tag: --build-arg SERVICE_VERSION=X.Y.Z.
RELEASE = "3.4.5"
MB = 1_000_000

# What /app in the runtime image may hold: the code that runs and its manifest.
APP_ALLOWED = {"package.json", "package-lock.json", "node_modules", "src", "compile-cache"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_service(dest: Path, node_major: int = 24, http_port: int | None = None) -> Path:
    """Generate a service from this checkout's template (uncommitted changes included)."""
    import copier

    answers = {"service_name": SERVICE_NAME, "node_major": node_major,
               "http_port": http_port or free_port(), "trace_sample_ratio": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dirty-template / no-tag warnings
        copier.run_copy(str(REPO_ROOT), str(dest), data=answers, defaults=True, unsafe=True,
                        quiet=True, vcs_ref="HEAD")
    return dest


# ------------------------------------------------------------------ building
@dataclass
class Built:
    tag: str
    info: ImageInfo
    base: ImageInfo
    build_seconds: float

    @property
    def added_layers(self):
        base_ids = [layer.diff_id for layer in self.base.layers]
        own = [layer.diff_id for layer in self.info.layers[:len(base_ids)]]
        if own != base_ids:
            raise AssertionError(f"{self.tag} does not start with the base image's layers")
        return self.info.layers[len(base_ids):]

    @property
    def added_bytes(self) -> int:
        return sum(layer.size for layer in self.added_layers)


def build(service: Path, tag: str, base: str, buildah: Buildah, log: Path,
          dockerfile: Path | None = None, platform: str = "linux/amd64",
          extra: list[str] | None = None) -> Built:
    t0 = time.monotonic()
    buildah.bud(service, tag, dockerfile=dockerfile, platform=platform, log=log, extra=extra)
    return Built(tag=tag, info=buildah.inspect(tag), base=buildah.inspect(base),
                 build_seconds=time.monotonic() - t0)


def build_both(service: Path, buildah: Buildah, work: Path) -> tuple[Built, Built]:
    """The service's Dockerfile and the case study's, built concurrently (network-bound npm installs)."""
    major = node_major_of(service)
    base = image_base.image_name(major)
    with ThreadPoolExecutor(max_workers=2) as pool:
        ours = pool.submit(build, service, f"localhost/{SERVICE_NAME}:image-check", base, buildah,
                           work / "build-service.log", extra=["--build-arg", f"SERVICE_VERSION={RELEASE}"])
        theirs = pool.submit(build, service, f"localhost/{SERVICE_NAME}:case-study", base, buildah,
                             work / "build-case-study.log", CASE_STUDY_DOCKERFILE,
                             extra=["--build-arg", f"NODE_VERSION={image_base.NODE_VERSIONS[major]}"])
        return ours.result(), theirs.result()


def node_major_of(service: Path) -> int:
    return int((service / ".nvmrc").read_text().strip().split(".")[0])


# ----------------------------------------------------------- image contents
@dataclass
class Contents:
    app_entries: list[str]
    src_files: list[str]
    dev_packages_checked: int
    dev_packages_present: list[str]
    prod_packages_missing: list[str]
    npm_caches: list[str]
    test_files: list[str]
    tmp_entries: list[str]
    app_writable_by_user: list[str]
    node_modules_bytes: int


def _tree_bytes(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def inspect_contents(tag: str, info: ImageInfo, buildah: Buildah, lockfile: Path) -> Contents:
    """Look inside the image; `lockfile` is the service's package-lock.json, which
    marks every package (transitive ones included) that only dev dependencies need."""
    lock = json.loads(lockfile.read_text())
    dev, prod = [], []
    for key, meta in lock.get("packages", {}).items():
        if not key.startswith("node_modules/"):
            continue
        if meta.get("dev"):
            dev.append(key)
        elif not (meta.get("optional") or meta.get("devOptional")):
            prod.append(key)
    container = buildah.from_image(tag)
    try:
        root = buildah.mount(container)
        app = root / (info.workdir.lstrip("/") or "app")
        caches = []
        for home in [root / "root", *(root / "home").glob("*"), root / "tmp", app]:
            for pattern in (".npm", "_cacache", ".cache"):
                caches += [str(p.relative_to(root)) for p in home.glob(pattern)]
        caches += [str(p.relative_to(root)) for p in (app / "node_modules").glob(".cache")]
        uid = _numeric_uid(root, info.user)
        writable = [str(p.relative_to(root)) for p in [app, *app.rglob("*")]
                    if not p.is_symlink() and p.lstat().st_uid == uid and uid != 0]
        src = app / "src"
        return Contents(
            app_entries=sorted(p.name for p in app.iterdir()),
            src_files=sorted(str(p.relative_to(app)) for p in src.rglob("*") if p.is_file()),
            dev_packages_checked=len(dev),
            dev_packages_present=sorted(k for k in dev if (app / k).exists()),
            prod_packages_missing=sorted(k for k in prod if not (app / k).exists()),
            npm_caches=sorted(set(caches)),
            test_files=sorted(str(p.relative_to(root)) for p in app.rglob("*")
                              if "node_modules" not in p.parts and
                              (p.name in {"test", "tests", "__tests__"} or
                               p.name.endswith((".test.js", ".spec.js", ".test.mjs", ".test.cjs")))),
            tmp_entries=sorted(p.name for p in (root / "tmp").iterdir()) if (root / "tmp").exists() else [],
            app_writable_by_user=writable[:20],
            node_modules_bytes=_tree_bytes(app / "node_modules") if (app / "node_modules").exists() else 0,
        )
    finally:
        buildah.rm(container)


def _numeric_uid(root: Path, user: str) -> int:
    return image_run._passwd_lookup(root, user or "root")[0]


# ------------------------------------------------------------------ running
@dataclass
class RunResult:
    started_seconds: float
    responses: dict[str, tuple[int, str]]
    status: dict[str, str]
    spans: list[dict]
    metrics: list[dict]
    downstream_traceparents: list[str]
    stop_exit_code: int | None
    stop_seconds: float | None
    still_running_after_stop: bool
    tmp_written: list[str]
    mounts: dict[str, tuple[str, str]]  # mount point -> (fs type, options), as the process sees them
    output: str
    env: dict[str, str] = field(default_factory=dict)


def mount_table(pid: int) -> dict[str, tuple[str, str]]:
    """/proc/PID/mountinfo as {mount point: (fs type, per-mount options)}; last mount wins."""
    table = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        table[fields[4]] = (right.split()[0], fields[5])
    return table


def _get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def run_image(tag: str, info: ImageInfo, buildah: Buildah, work: Path,
              requests: int = 5, stop_wait: float = 5.0) -> RunResult:
    port = int(info.env.get("PORT", "0"))
    if not port:
        raise AssertionError(f"{tag} sets no PORT in its environment")
    stub = Downstream()
    with OtlpSink() as sink:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "DOWNSTREAM_URL": stub.url,
               # Export within half a second instead of the default five.
               "OTEL_BSP_SCHEDULE_DELAY": "500", "OTEL_METRIC_EXPORT_INTERVAL": "500",
               "DEPLOYMENT_ENVIRONMENT": "image-check"}
        t0 = time.monotonic()
        running = image_run.start(tag, env=env, buildah=buildah, log_dir=work / "run", info=info)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                if running.proc.poll() is not None:
                    raise AssertionError(f"{tag} exited with {running.proc.returncode} before "
                                         f"answering:\n{running.output()[-3000:]}")
                try:
                    if _get(base + "/healthz", timeout=1)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{tag} did not answer /healthz in 30 s:\n{running.output()[-3000:]}")
                time.sleep(0.1)
            started = time.monotonic() - t0
            responses = {"/healthz": _get(base + "/healthz"), "/readyz": _get(base + "/readyz")}
            for _ in range(requests):
                responses["/api/example"] = _get(base + "/api/example")
            status = running.status()
            mounts = mount_table(running.pid)

            def server_and_client(received):
                by_trace: dict[str, list[dict]] = {}
                for s in received.spans:
                    by_trace.setdefault(s["trace_id"], []).append(s)
                return [t for t in by_trace.values()
                        if any(s["kind"] == "SERVER" for s in t) and any(s["kind"] == "CLIENT" for s in t)]

            sink.wait_for(server_and_client, timeout=15)
            sink.wait_for(lambda r: [m for m in r.metrics if m["name"] == "http.server.request.duration"], timeout=15)
            # The tmpfs as the container's process sees it.
            tmp_written = sorted(p.name for p in Path(f"/proc/{running.pid}/root/tmp").iterdir())
            running.terminate(timeout=stop_wait)
            still_running = running.proc.poll() is None
            spans = list(sink.received.spans)
            metrics = list(sink.received.metrics)
        finally:
            running.close()
            stub.close()
    return RunResult(started_seconds=started, responses=responses, status=status, spans=spans, metrics=metrics,
                     downstream_traceparents=list(stub.traceparents),
                     stop_exit_code=running.exit_code, stop_seconds=running.stop_seconds,
                     still_running_after_stop=still_running, tmp_written=tmp_written,
                     mounts=mounts, output=running.output(), env=env)


# ------------------------------------------------------------------- report
LAST_REPORT: "Report | None" = None


@dataclass
class Report:
    service_dir: Path
    service: Built
    case_study: Built
    contents: Contents
    run: RunResult
    base_seconds: float

    def lines(self) -> list[str]:
        s, c, r = self.service, self.case_study, self.run
        uid = r.status.get("Uid", "?").split()
        out = [
            f"base image           {s.base.name} ({s.base.arch}): {s.base.size / MB:.1f} MB "
            f"in {len(s.base.layers)} layers (ready in {self.base_seconds:.1f} s)",
            f"service image        {s.tag}: {s.info.size / MB:.1f} MB total, "
            f"{s.added_bytes / MB:.1f} MB in {len(s.added_layers)} layers above the base "
            f"(built in {s.build_seconds:.0f} s)",
        ]
        out += [f"  layer +{i}          {layer.size / MB:8.2f} MB  {layer.diff_id[7:19]}"
                for i, layer in enumerate(s.added_layers, 1)]
        out += [
            f"case-study approach  {c.tag}: {c.info.size / MB:.1f} MB total, "
            f"{c.added_bytes / MB:.1f} MB above the base (built in {c.build_seconds:.0f} s)",
            f"ratio                case study / service layers above base = "
            f"{c.added_bytes / max(s.added_bytes, 1):.1f}x",
            f"node_modules         {self.contents.node_modules_bytes / MB:.1f} MB (files), "
            f"/app holds {', '.join(self.contents.app_entries)}",
            f"runs as              uid {uid[0] if uid else '?'} (real/effective/saved/fs: {' '.join(uid)}), "
            f"root filesystem read-only, tmpfs /tmp (written there: {', '.join(r.tmp_written) or 'nothing'})",
            f"started              /healthz answered {r.started_seconds:.2f} s after start",
            f"requests             " + ", ".join(f"{k} -> {v[0]}" for k, v in r.responses.items()),
            f"spans                {len(r.spans)} received: "
            + ", ".join(sorted({f"{sp['kind']} {sp['name']}" for sp in r.spans})),
            f"SIGTERM              exit code {r.stop_exit_code} after "
            + (f"{r.stop_seconds:.3f} s" if r.stop_seconds is not None else "no exit (killed)"),
        ]
        return out


def run_all(work: Path, buildah: Buildah | None = None, node_major: int = 24) -> Report:
    buildah = buildah or Buildah()
    t0 = time.monotonic()
    image_base.ensure(node_major, "amd64", buildah)
    base_seconds = time.monotonic() - t0
    service = render_service(work / SERVICE_NAME, node_major=node_major)
    ours, theirs = build_both(service, buildah, work)
    contents = inspect_contents(ours.tag, ours.info, buildah, service / "package-lock.json")
    run = run_image(ours.tag, ours.info, buildah, work)
    return Report(service_dir=service, service=ours, case_study=theirs, contents=contents, run=run, base_seconds=base_seconds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--node-major", type=int, default=24, choices=sorted(image_base.NODE_VERSIONS))
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, rendered service)")
    args = p.parse_args(argv)
    from image_buildah import available
    if (why := available()):
        print(f"image-check: {why}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="image-check-"))
    try:
        report = run_all(work, node_major=args.node_major)
        print("\n".join(report.lines()))
    finally:
        if args.keep:
            print(f"work directory: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
