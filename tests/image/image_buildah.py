"""A thin wrapper over the buildah CLI: build, inspect, mount, and measure images.

No Docker engine runs on the build machines; buildah with `--isolation chroot`
builds and runs images as root without one. `root`/`runroot` select a separate
containers-storage (the emulated-vs-native bench uses a fresh one per build so
that every build starts with cold caches).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class BuildahError(RuntimeError):
    pass


@dataclass
class Layer:
    diff_id: str
    size: int  # uncompressed bytes, what `docker history` shows


@dataclass
class ImageInfo:
    name: str
    id: str
    arch: str
    entrypoint: list[str]
    cmd: list[str]
    user: str
    workdir: str
    env: dict[str, str]
    labels: dict[str, str]
    layers: list[Layer]

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)


def available() -> str | None:
    """Why buildah cannot be used here, or None when it can."""
    if shutil.which("buildah") is None:
        return "buildah is not installed (Debian package `buildah`; .ci/run installs it)"
    if os.geteuid() != 0:
        return "buildah with --isolation chroot needs root"
    return None


def host_npm_cafile() -> Path | None:
    """The CA bundle the host's npm is configured to trust, if any.

    Some build machines reach the npm registry through a TLS-intercepting
    egress proxy whose CA only the host trusts. Builds then get that bundle
    for their RUN steps only (see Buildah.build_volumes); nothing of it ends up
    in an image. On a machine without such a proxy this returns None.
    """
    for candidate in (os.environ.get("npm_config_cafile"), _npm_config("cafile"),
                      os.environ.get("NODE_EXTRA_CA_CERTS")):
        if candidate and candidate not in ("null", "undefined") and Path(candidate).is_file():
            return Path(candidate)
    return None


def _npm_config(key: str) -> str | None:
    if shutil.which("npm") is None:
        return None
    proc = subprocess.run(["npm", "config", "get", key], text=True, capture_output=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


class Buildah:
    def __init__(self, root: Path | None = None, runroot: Path | None = None):
        self.root = root
        self.runroot = runroot

    def _base(self) -> list[str]:
        cmd = ["buildah"]
        if self.root:
            cmd += ["--root", str(self.root)]
        if self.runroot:
            cmd += ["--runroot", str(self.runroot)]
        return cmd

    def run(self, *args: str, check: bool = True, capture: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(self._base() + list(args), text=True, env=env,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None)
        if check and proc.returncode != 0:
            raise BuildahError(f"buildah {' '.join(args)} failed ({proc.returncode}):\n"
                               f"{(proc.stderr or '')[-4000:]}")
        return proc

    # ------------------------------------------------------------------ images
    def exists(self, name: str) -> bool:
        return self.run("inspect", "--type", "image", name, check=False).returncode == 0

    def inspect(self, name: str) -> ImageInfo:
        data = json.loads(self.run("inspect", "--type", "image", name).stdout)
        cfg = data["OCIv1"].get("config") or {}
        env = dict(e.split("=", 1) for e in cfg.get("Env") or [])
        diff_ids = data["OCIv1"]["rootfs"]["diff_ids"]
        return ImageInfo(
            name=name, id=data["FromImageID"], arch=data["OCIv1"].get("architecture", ""),
            entrypoint=cfg.get("Entrypoint") or [], cmd=cfg.get("Cmd") or [],
            user=cfg.get("User") or "", workdir=cfg.get("WorkingDir") or "/", env=env,
            labels=cfg.get("Labels") or {}, layers=[Layer(d, self.layer_size(d)) for d in diff_ids])

    def layer_size(self, diff_id: str) -> int:
        """Uncompressed size of one layer (what `docker history` shows).

        The image manifest is no use here: it records compressed blob sizes for
        images loaded from an archive and tar sizes for images built locally.
        containers-storage keeps the uncompressed size of every layer.
        """
        graph_root = self.root or Path(json.loads(self.run("info").stdout)["store"]["GraphRoot"])
        layers_json = Path(graph_root) / "overlay-layers" / "layers.json"
        for layer in json.loads(layers_json.read_text()):
            if layer.get("diff-digest") == diff_id:
                return int(layer["diff-size"])
        raise BuildahError(f"layer {diff_id} not found in {layers_json}")

    def build_volumes(self) -> list[str]:
        """`-v` options giving RUN steps the host's npm CA bundle (a global npmrc
        in /usr/local/etc, where the image's npm looks); empty when not needed.
        Volumes exist only while a RUN step runs."""
        cafile = host_npm_cafile()
        if cafile is None:
            return []
        if not hasattr(self, "_npmrc"):
            import tempfile
            self._npmrc = Path(tempfile.mkdtemp(prefix="buildah-npmrc-")) / "npmrc"
            self._npmrc.write_text("cafile=/usr/local/etc/build-ca.crt\n")
        return ["-v", f"{cafile}:/usr/local/etc/build-ca.crt:ro", "-v", f"{self._npmrc}:/usr/local/etc/npmrc:ro"]

    def bud(self, context: Path, tag: str, *, dockerfile: Path | None = None,
            platform: str = "linux/amd64", layers: bool = True, extra: list[str] | None = None,
            log: Path | None = None) -> None:
        args = ["bud", "--isolation", "chroot", "--platform", platform, "--pull=never", "--force-rm",
                f"--layers={'true' if layers else 'false'}", "-t", tag, *self.build_volumes()]
        if dockerfile:
            args += ["-f", str(dockerfile)]
        args += (extra or []) + [str(context)]
        with open(log or os.devnull, "w") as out:
            proc = subprocess.run(self._base() + args, stdout=out, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = log.read_text()[-4000:] if log else ""
            raise BuildahError(f"buildah bud {tag} failed ({proc.returncode}):\n{tail}")

    def rmi(self, name: str) -> None:
        self.run("rmi", "-f", name, check=False)

    # -------------------------------------------------------------- containers
    def from_image(self, name: str) -> str:
        return self.run("from", "--pull=never", name).stdout.strip().splitlines()[-1]

    def mount(self, container: str) -> Path:
        return Path(self.run("mount", container).stdout.strip())

    def rm(self, container: str) -> None:
        self.run("umount", container, check=False)
        self.run("rm", container, check=False)
