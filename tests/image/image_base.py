"""Stand-ins for the official `node:<version>-bookworm-slim` images, built locally.

No public registry is reachable from the build machines, so the base image the
generated Dockerfile names in its FROM lines is made here, the way the official
one is made, from parts that are reachable:

  layer 1  debootstrap --variant=minbase bookworm, slimmed like debuerreotype
           slims `debian:bookworm-slim` (docs, man pages, locales excluded)
  layer 2  the `node` user (uid/gid 1000), the Node binary and headers from the
           npm registry package `node-linux-<arch>`, npm, corepack and yarn 1.x
           from the npm registry, docker-entrypoint.sh, ENTRYPOINT/CMD

The result is tagged `docker.io/library/node:<version>-bookworm-slim`, exactly
what `FROM node:<version>-bookworm-slim` resolves to, and cached as an
oci-archive under .cache/base-images/ (ignored by git) so that reruns only load
it. docs/images.md lists how the stand-in differs from the official image.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO_ROOT / "src"))

from image_buildah import Buildah  # noqa: E402
from paved_road.local.node_toolchain import NODE_VERSIONS  # noqa: E402

CACHE = REPO_ROOT / ".cache" / "base-images"
SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("PAVED_DEBIAN_MIRROR", "http://deb.debian.org/debian")

# npm and corepack: the versions the pinned Node release bundles, read from its
# CHANGELOG.md (shipped in the node-linux-* package). yarn: as the official image.
YARN_VERSION = "1.22.22"

NODE_ARCH = {"amd64": "x64", "arm64": "arm64"}
OPENSSL_ARCH = {"amd64": "linux-x86_64", "arm64": "linux-aarch64"}

# What debuerreotype leaves out of the -slim variants (its .slimify-excludes),
# and what it keeps despite that.
SLIM_EXCLUDES = ["/usr/share/doc/*", "/usr/share/groff/*", "/usr/share/info/*",
                 "/usr/share/linda/*", "/usr/share/lintian/overrides/*",
                 "/usr/share/locale/*", "/usr/share/man/*"]
SLIM_INCLUDES = ["/usr/share/doc/*/copyright", "/usr/share/locale/locale.alias"]

ENTRYPOINT_SH = """\
#!/bin/sh
set -e

# Same contract as the official image's entrypoint: when the first argument is
# an option (starts with "-"), is not a command on PATH, or is a file that is
# not executable, run it with node; otherwise run the command as given.
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
"""

AARCH64_BINFMT = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")


# Changing this file changes the recipe: cached archives and stored images made
# by another recipe are rebuilt rather than reused.
RECIPE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
RECIPE_LABEL = "org.paved-road.base-image.recipe"


def image_name(major: int) -> str:
    return f"docker.io/library/node:{NODE_VERSIONS[major]}-bookworm-slim"


def archive_path(major: int, arch: str) -> Path:
    return CACHE / f"node-{NODE_VERSIONS[major]}-bookworm-slim-{arch}-{RECIPE}.oci.tar"


def log(msg: str) -> None:
    print(f"[base-images] {msg}", file=sys.stderr, flush=True)


def ensure_binfmt_aarch64() -> None:
    """Register QEMU user emulation for arm64 binaries (idempotent, needs root)."""
    if not (BINFMT_DIR / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)], check=True)
    if (BINFMT_DIR / "qemu-aarch64").exists():
        return
    if not AARCH64_BINFMT.exists():
        raise RuntimeError(f"{AARCH64_BINFMT} is missing: install the Debian package qemu-user-static")
    line = AARCH64_BINFMT.read_text().strip()
    (BINFMT_DIR / "register").write_text(line)


# --------------------------------------------------------------------- layer 1
def debootstrap(root: Path, arch: str) -> None:
    foreign = arch != host_arch()
    cmd = ["debootstrap", "--variant=minbase", f"--arch={arch}"]
    if foreign:
        cmd.append("--foreign")
    cmd += [SUITE, str(root), DEBIAN_MIRROR]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    if foreign:
        # The second stage runs the target's dpkg: arm64 code under QEMU.
        ensure_binfmt_aarch64()
        subprocess.run(["chroot", str(root), "/debootstrap/debootstrap", "--second-stage"],
                       check=True, stdout=subprocess.DEVNULL)


def slimify(root: Path) -> None:
    """Make the debootstrap tree look like debian:bookworm-slim."""
    dpkg_cfg = root / "etc/dpkg/dpkg.cfg.d/docker"
    dpkg_cfg.write_text("".join(f"path-exclude {p}\n" for p in SLIM_EXCLUDES)
                        + "".join(f"path-include {p}\n" for p in SLIM_INCLUDES))
    keep = set()
    for pattern in SLIM_INCLUDES:
        keep.update(root.glob(pattern.lstrip("/")))
    for pattern in SLIM_EXCLUDES:
        for path in root.glob(pattern.lstrip("/")):
            if path in keep:
                continue
            if path.is_dir() and not path.is_symlink():
                inner_keep = [k for k in keep if path in k.parents]
                if inner_keep:
                    for child in path.iterdir():
                        if child not in keep:
                            _remove(child)
                    continue
            _remove(path)
    # debuerreotype's minimizing config, as in the official Debian images.
    (root / "etc/dpkg/dpkg.cfg.d/docker-apt-speedup").write_text("force-unsafe-io\n")
    apt = root / "etc/apt/apt.conf.d"
    (apt / "docker-clean").write_text(
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n')
    (apt / "docker-autoremove-suggests").write_text('Apt::AutoRemove::SuggestsImportant "false";\n')
    (apt / "docker-gzip-indexes").write_text('Acquire::GzipIndexes "true";\n')
    (apt / "docker-no-languages").write_text('Acquire::Languages "none";\n')
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    # Downloaded packages, indexes, logs and files the container runtime provides.
    for pattern in ["var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*",
                    "var/log/*", "debootstrap", "etc/resolv.conf", "etc/hostname", "etc/hosts"]:
        for path in root.glob(pattern):
            if path.name in {"partial", "lock"}:
                continue
            _remove(path)
    (root / "var/log/apt").mkdir(parents=True, exist_ok=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------- layer 2
def npm_pack(spec: str, dest: Path) -> Path:
    """Download one npm-registry tarball (npm's cache makes repeats cheap)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(dest), spec],
                         check=True, text=True, stdout=subprocess.PIPE).stdout.strip().splitlines()[-1]
    return dest / out


def _extract_package(tgz: Path, dest: Path) -> None:
    """Extract an npm tarball (its files sit under package/) into dest, owned by root."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            name = member.name.split("/", 1)[1] if "/" in member.name else ""
            if not name:
                continue
            member.name = name
            member.uid = member.gid = 0
            member.uname = member.gname = "root"
            # The extraction filter exists from Python 3.11.4 (Debian 12 ships 3.11.2).
            tar.extract(member, dest, set_attrs=True,
                        **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))


def bundled_version(changelog: Path, node_version: str, dep: str) -> str:
    """The `dep` version a Node release ships: the newest "upgrade/update dep to X"
    entry at or below that release's section of the changelog (newest first)."""
    text = changelog.read_text()
    start = text.find(f'<a id="{node_version}"></a>')
    if start < 0:
        raise RuntimeError(f"{changelog} has no section for {node_version}")
    match = re.search(rf"\*\*deps\*\*: (?:upgrade|update) {dep} to (\d+\.\d+\.\d+)\b", text[start:])
    if not match:
        raise RuntimeError(f"{changelog} names no {dep} version at or below {node_version}")
    return match.group(1)


def add_node_user(root: Path) -> None:
    """groupadd/useradd as the official image runs them, applied to the tree from outside."""
    subprocess.run(["groupadd", "--prefix", str(root), "--gid", "1000", "node"], check=True)
    subprocess.run(["useradd", "--prefix", str(root), "--uid", "1000", "--gid", "node",
                    "--shell", "/bin/bash", "--create-home", "node"], check=True)


def stage_node(root: Path, major: int, arch: str, downloads: Path) -> None:
    """Lay out /usr/local (node, npm, corepack, entrypoint) and /opt/yarn-* under root."""
    version = NODE_VERSIONS[major]
    local = root / "usr/local"
    pkg = downloads / f"node-linux-{NODE_ARCH[arch]}-{version}"
    if not (pkg / "bin/node").exists():
        _extract_package(npm_pack(f"node-linux-{NODE_ARCH[arch]}@{version}", downloads), pkg)
    (local / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(pkg / "bin/node", local / "bin/node")
    os.chmod(local / "bin/node", 0o755)
    shutil.copytree(pkg / "include", local / "include", dirs_exist_ok=True)
    # Like the official image: keep only this architecture's OpenSSL headers.
    archs = local / "include/node/openssl/archs"
    if archs.is_dir():
        for child in archs.iterdir():
            if child.name != OPENSSL_ARCH[arch]:
                _remove(child)
    if (pkg / "share").is_dir():
        shutil.copytree(pkg / "share", local / "share", dirs_exist_ok=True)
    (local / "bin/nodejs").symlink_to("node")

    # npm and corepack, laid out as the Node tarball lays them out.
    modules = local / "lib/node_modules"
    for name in ("npm", "corepack"):
        ver = bundled_version(pkg / "CHANGELOG.md", version, name)
        _extract_package(npm_pack(f"{name}@{ver}", downloads), modules / name)
    links = {"npm": "../lib/node_modules/npm/bin/npm-cli.js",
             "npx": "../lib/node_modules/npm/bin/npx-cli.js",
             "corepack": "../lib/node_modules/corepack/dist/corepack.js"}
    for link, target in links.items():
        (local / "bin" / link).symlink_to(target)

    # yarn 1.x under /opt as the official image puts it.
    yarn_dir = root / f"opt/yarn-v{YARN_VERSION}"
    _extract_package(npm_pack(f"yarn@{YARN_VERSION}", downloads), yarn_dir)
    for link in ("yarn", "yarnpkg"):
        (local / "bin" / link).symlink_to(f"/opt/yarn-v{YARN_VERSION}/bin/{link}")

    entry = local / "bin/docker-entrypoint.sh"
    entry.write_text(ENTRYPOINT_SH)
    entry.chmod(0o755)


# ------------------------------------------------------------------ assemble
def host_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]


def _copy_tree_into(src: Path, dest: Path) -> None:
    """Copy a root filesystem tree preserving owners, modes, links and device nodes."""
    subprocess.run(f"tar -C {src} -cf - . | tar -C {dest} -xpf - --numeric-owner --no-overwrite-dir",
                   shell=True, check=True)


def build(major: int, arch: str, buildah: Buildah) -> None:
    """Build the stand-in image into buildah storage.

    One layer: debootstrap runs straight into a scratch container's root while
    the Node files are staged next to it (npm downloads overlap debootstrap's).
    """
    from concurrent.futures import ThreadPoolExecutor

    name = image_name(major)
    version = NODE_VERSIONS[major]
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="base-image-", dir=CACHE) as tmp:
        node_tree = Path(tmp) / "node"
        container = buildah.run("from", "scratch").stdout.strip()
        try:
            root = buildah.mount(container)
            root.chmod(0o755)  # a scratch container's root is 0555; images have 0755
            with ThreadPoolExecutor(max_workers=1) as pool:
                staged = pool.submit(stage_node, node_tree, major, arch, CACHE / "downloads")
                log(f"debootstrap {SUITE} ({arch}) ...")
                debootstrap(root, arch)
                slimify(root)
                log(f"debootstrap done after {time.monotonic() - t0:.0f} s")
                staged.result()
            add_node_user(root)
            _copy_tree_into(node_tree, root)
            buildah.run(
                "config", "--arch", arch, "--os", "linux",
                "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--env", f"NODE_VERSION={version}", "--env", f"YARN_VERSION={YARN_VERSION}",
                "--entrypoint", '["docker-entrypoint.sh"]', "--cmd", '["node"]',
                "--label", "org.opencontainers.image.description=Local stand-in for the official "
                f"node:{version}-bookworm-slim image (see docs/images.md)",
                "--label", f"{RECIPE_LABEL}={RECIPE}", container)
            buildah.run("commit", "--rm", container, name)
        except BaseException:
            buildah.rm(container)
            raise
    log(f"built {name} ({arch}) in {time.monotonic() - t0:.0f} s")


def ensure(major: int, arch: str | None = None, buildah: Buildah | None = None) -> str:
    """Make `node:<version>-bookworm-slim` for arch present in buildah storage; return its name.

    Order: already in storage -> load the cached oci-archive -> build and cache it.
    """
    arch = arch or host_arch()
    buildah = buildah or Buildah()
    name = image_name(major)
    def current() -> bool:
        if not buildah.exists(name):
            return False
        info = buildah.inspect(name)
        return info.arch == arch and info.labels.get(RECIPE_LABEL) == RECIPE

    if current():
        return name
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = archive_path(major, arch)
    # Several test workers or a bench may ask at once: one builds, the rest wait.
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if current():  # made by another process while we waited
            return name
        if not archive.exists():
            for stale in CACHE.glob(f"node-{NODE_VERSIONS[major]}-bookworm-slim-{arch}-*.oci.tar"):
                stale.unlink()
            build(major, arch, buildah)
            t0 = time.monotonic()
            partial = archive.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            buildah.run("push", "--quiet", name, f"oci-archive:{partial}:{name}")
            partial.rename(archive)
            log(f"cached as {archive.relative_to(REPO_ROOT)} in {time.monotonic() - t0:.0f} s")
            return name
        if buildah.exists(name):
            buildah.rmi(name)  # another architecture under the same name
        log(f"loading {archive.name}")
        buildah.run("pull", "--quiet", f"oci-archive:{archive}")
        if not buildah.exists(name):
            raise RuntimeError(f"{archive} did not load as {name}")
    return name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Build (or load from .cache/base-images) the local "
                                "stand-ins for node:<version>-bookworm-slim.")
    p.add_argument("--major", type=int, action="append", choices=sorted(NODE_VERSIONS),
                   help="Node major (repeatable; default: all)")
    p.add_argument("--arch", action="append", choices=sorted(NODE_ARCH),
                   help="architecture (repeatable; default: the host's)")
    p.add_argument("--rebuild", action="store_true", help="ignore the cached archive")
    args = p.parse_args(argv)
    for major in args.major or sorted(NODE_VERSIONS):
        for arch in args.arch or [host_arch()]:
            if args.rebuild:
                archive_path(major, arch).unlink(missing_ok=True)
                Buildah().rmi(image_name(major))
            # Storage holds one image per name: a second arch replaces the first there,
            # while both stay cached as archives.
            print(ensure(major, arch), arch, archive_path(major, arch).relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
