"""Where the template lives, what it asks, and its canonical git URL."""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from pathlib import Path

import yaml

from paved_road.untrusted import redact

REPO_ROOT = Path(__file__).resolve().parents[2]

# A URL other machines can fetch the template from (CI runners, Renovate):
# https, ssh, scp-like git@, or http on loopback (test servers). Kept in step
# with copier.yml's paved_road_git_url validator.
REMOTE_URL = re.compile(r"^(https://|ssh://|git@|http://(127\.0\.0\.1|localhost)[:/])[A-Za-z0-9._~:/@%+-]+$")
# user[:token]@ in an http(s) URL: never recorded (it would land in the answers file and the workflows).
_CREDENTIALS = re.compile(r"^(https?://)[^/@]*@")


_ENV_CREDENTIALS = re.compile(r"^([a-z][a-z0-9+.-]*://)\$\{[A-Za-z0-9_-]+\}(?::\$\{[A-Za-z0-9_-]+\})?@")
NO_TEMPLATE = ("no template found: pass --template URL (the Paved Road template's git URL, e.g. "
               "--template https://github.com/ORG/paved-road.git) or set PAVED_TEMPLATE")


class NoTemplate(LookupError):
    """No template configured, no checkout to run from, and the installed package does not say where it came from."""


def installed_from(distribution: str = "paved-road") -> tuple[str, str | None] | None:
    """Where pip installed this package from, per PEP 610 (`direct_url.json` in its .dist-info, read through
    importlib.metadata): a git repository (vcs_info: the URL and the revision asked for, else the commit
    installed) or a local directory (dir_info); that is the template the CLI belongs to. None for an index or
    archive (wheel) install, which names no repository."""
    import json
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    try:
        text = metadata.distribution(distribution).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        info = json.loads(text) if text else {}
    except ValueError:
        return None
    url = info.get("url") if isinstance(info, dict) else None
    if not isinstance(url, str):
        return None
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git":
        ref = vcs.get("requested_revision") or vcs.get("commit_id")
        if url.startswith("file://"):
            url = unquote(urlparse(url).path)  # a local clone: copier takes its path
        # PEP 610: user:password may be environment variables (${TOKEN}); drop them (git's credential helper
        # authenticates; an expanded token would be written into every service's answers file).
        url = _ENV_CREDENTIALS.sub(r"\1", url)
        return url, ref if isinstance(ref, str) else None
    if isinstance(info.get("dir_info"), dict) and url.startswith("file://"):
        path = Path(unquote(urlparse(url).path))
        if (path / "copier.yml").is_file():
            return str(path), None
    return None


def template_and_ref() -> tuple[str, str | None]:
    """The template (and the revision to render, when known): $PAVED_TEMPLATE, else the checkout paved
    runs from, else where pip installed paved from (PEP 610). NoTemplate when none of them says."""
    env = os.environ.get("PAVED_TEMPLATE")
    if env:
        return env, None
    if (REPO_ROOT / "copier.yml").is_file():
        return str(REPO_ROOT), None
    found = installed_from()
    if found:
        return found
    raise NoTemplate(NO_TEMPLATE)


def default_template_source() -> str:
    """$PAVED_TEMPLATE, else this checkout when the package runs from one, else the repository pip installed
    paved from. With none: one line on stderr and exit 2 (a usage error: --template was needed)."""
    try:
        return template_and_ref()[0]
    except NoTemplate as exc:
        import sys

        print(f"paved: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


without_credentials = redact  # the one function (paved_road.untrusted.redact)


def trusted_sources(template: str | None = None) -> list[str]:
    """Spellings of the one template paved runs with `copier --trust`: `template` (--template),
    else $PAVED_TEMPLATE, else the checkout paved runs from; plus its canonical git URL (a local
    clone's origin). Empty when none is configured. docs/security.md."""
    source = template
    if not source:
        try:
            source = template_and_ref()[0]
        except NoTemplate:
            return []
    url = canonical_url(source)
    return [source, url] if url else [source]


def is_local(template: str | Path) -> bool:
    return Path(template).expanduser().is_dir()


def load_config(template: str | Path, vcs_ref: str | None = None) -> dict:
    """copier.yml of the template: read in place for a local directory, else
    through copier's own clone of the URL at `vcs_ref` (default: its latest tag)."""
    if is_local(template):
        path = Path(template).expanduser() / "copier.yml"
        return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    from copier._template import Template  # copier is pinned; this is how copier itself reads a template

    tpl = Template(url=str(template), ref=vcs_ref)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {**tpl.config_data, **tpl.questions_data}
    finally:
        tpl._cleanup()


def questions_of(config: dict) -> dict[str, dict]:
    """The askable questions of a copier.yml (settings and computed values excluded)."""
    return {
        k: (v if isinstance(v, dict) else {"default": v})
        for k, v in config.items()
        if not k.startswith("_") and not (isinstance(v, dict) and v.get("when") is False)
    }


def load_questions(template: str | Path, vcs_ref: str | None = None) -> dict[str, dict]:
    return questions_of(load_config(template, vcs_ref))


def canonical_url(template: str | Path) -> str | None:
    """The git URL services should record for `template`: the template itself
    when it is a remote URL, else the `origin` remote of a local clone; None
    when only a local path is known."""
    text = str(template)
    if text.startswith("git+"):
        text = text[4:]
    for alias, base in (("gh:", "https://github.com/"), ("gl:", "https://gitlab.com/")):
        if text.startswith(alias):
            text = base + text[len(alias):].lstrip("/")
            text += "" if text.endswith(".git") else ".git"
    if not REMOTE_URL.match(text):
        if not is_local(template):
            return None
        where = Path(template).expanduser().resolve()
        top = subprocess.run(["git", "-C", str(where), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
        if top.returncode or Path(top.stdout.strip()).resolve() != where:
            return None  # a plain directory, or one inside another repository (whose origin is not the template's)
        proc = subprocess.run(["git", "-C", str(where), "remote", "get-url", "origin"], capture_output=True, text=True)
        text = proc.stdout.strip()
        if proc.returncode or not REMOTE_URL.match(text):
            return None
    return _as_git_url(_CREDENTIALS.sub(r"\1", text))


def _as_git_url(url: str) -> str:
    """A URL copier recognises as git when read back from `_src_path` (copier._vcs.get_repo: a `.git`
    suffix, `git@`, or GitHub/GitLab https), so `https://git.corp/platform/paved-road` (a clone's usual
    origin on a self-hosted server) gets its `.git`, which git servers accept for the same repository."""
    if url.endswith(".git") or url.startswith("git@"):
        return url
    return url.rstrip("/") + ".git"
