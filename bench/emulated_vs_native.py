"""Emulated vs native image builds: the cost the per-architecture native runners avoid.

Builds the same generated service's Dockerfile twice on this (amd64) machine,
each time with cold caches (a fresh containers-storage holding only the base
image, no layer cache, an empty npm cache):

  linux/amd64  native
  linux/arm64  every RUN step (npm ci, lint, tests, prune) under QEMU user emulation

and reports both wall times and their ratio. The case study claims native
builds are about 90% shorter than emulated ones. To show the arm64 build is
real, it then runs the arm64 image's `node --version` (and `process.arch`)
under emulation.

    .venv/bin/python bench/emulated_vs_native.py [--json FILE]

Needs root, buildah, debootstrap and qemu-user-static (.ci/run installs them).
The arm64 stand-in base image is built once under emulation (minutes) and then
cached in .cache/base-images/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "image"))

import image_base  # noqa: E402
import image_check  # noqa: E402
import image_run  # noqa: E402
from image_buildah import Buildah, available  # noqa: E402

WORK = REPO_ROOT / ".cache" / "bench"


def cold_build(service: Path, arch: str, major: int, work: Path) -> dict:
    """One build in a fresh storage: load the base (not timed), then time `buildah bud`."""
    root = Path(tempfile.mkdtemp(prefix=f"storage-{arch}-", dir=work))
    buildah = Buildah(root=root / "root", runroot=root / "run")
    try:
        image_base.ensure(major, arch, buildah)
        tag = f"localhost/{image_check.SERVICE_NAME}:{arch}"
        log = work / f"build-{arch}.log"
        t0 = time.monotonic()
        buildah.bud(service, tag, platform=f"linux/{arch}", layers=False, log=log)
        seconds = time.monotonic() - t0
        info = buildah.inspect(tag)
        result = {"arch": arch, "seconds": round(seconds, 1), "image_arch": info.arch,
                  "image_mb": round(info.size / 1e6, 1)}
        if arch == "arm64":
            result["runs"] = run_under_emulation(tag, buildah, work)
        return result
    finally:
        subprocess.run(["buildah", "--root", str(root / "root"), "--runroot", str(root / "run"),
                        "rm", "--all"], capture_output=True)
        subprocess.run(["buildah", "--root", str(root / "root"), "--runroot", str(root / "run"),
                        "rmi", "--all", "--force"], capture_output=True)
        subprocess.run(["umount", "-R", str(root / "root" / "overlay")], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def run_under_emulation(tag: str, buildah: Buildah, work: Path) -> dict:
    """Start the arm64 image (its own entrypoint) with `node --version`; report what it printed."""
    out = {}
    for key, cmd in (("node --version", ["node", "--version"]),
                     ("process.arch", ["node", "-p", "process.arch + ' ' + process.platform"])):
        running = image_run.start(tag, cmd=cmd, buildah=buildah, log_dir=work / "run")
        try:
            code = running.proc.wait(timeout=120)
            out[key] = running.output().strip() if code == 0 else f"exit {code}: {running.output()[-500:]}"
        finally:
            running.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--node-major", type=int, default=24, choices=sorted(image_base.NODE_VERSIONS))
    p.add_argument("--json", type=Path, help="also write the results to this file")
    args = p.parse_args(argv)
    if (why := available()):
        print(f"bench: {why}", file=sys.stderr)
        return 2
    if platform.machine() != "x86_64":
        print("bench: run on an amd64 machine (arm64 is the emulated side)", file=sys.stderr)
        return 2
    image_base.ensure_binfmt_aarch64()
    WORK.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="emulated-vs-native-", dir=WORK))
    try:
        service = image_check.render_service(work / image_check.SERVICE_NAME, node_major=args.node_major)
        native = cold_build(service, "amd64", args.node_major, work)
        emulated = cold_build(service, "arm64", args.node_major, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = emulated["seconds"] / native["seconds"]
    saved = 1 - native["seconds"] / emulated["seconds"]
    results = {"node_major": args.node_major, "cpus": len(os.sched_getaffinity(0)),
               "native": native, "emulated": emulated, "ratio": round(ratio, 2),
               "native_saves_percent": round(saved * 100, 1)}
    print(f"cold build, generated service (Node {image_base.NODE_VERSIONS[args.node_major]}), "
          f"{results['cpus']} cores")
    print(f"  linux/amd64 native    {native['seconds']:7.1f} s  ({native['image_arch']}, {native['image_mb']} MB)")
    print(f"  linux/arm64 emulated  {emulated['seconds']:7.1f} s  ({emulated['image_arch']}, {emulated['image_mb']} MB)")
    print(f"  emulated / native     {ratio:7.2f}x  -> a native build takes {saved * 100:.0f}% less time "
          f"(case study claims ~90%)")
    for key, value in emulated.get("runs", {}).items():
        print(f"  arm64 image, {key:<15} {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
