"""Values from outside the platform team's control, handled as data (docs/security.md).

Answers files in service repositories, repos files, URLs and the environment
can be written by anyone who can push to a service. Nothing here runs them:

- `redact`: the one place userinfo (`user:token@`) is stripped from URLs
  before anything is printed or written;
- `git_value`: a value passed to git as an operand is never an option;
  `GIT` starts every git command that gets such a value (no `ext::` transport);
- `same_source`: is a service's `_src_path` the canonical template?;
- `load_answers`: an answers file parsed with bounds (size, no YAML aliases,
  depth) and each field type-checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

# ---------------------------------------------------------------------------
# Secrets never printed
# ---------------------------------------------------------------------------
# scheme://user[:password]@host: the userinfo of any URL-like value. scp-like `git@host:path` has no
# scheme and carries no secret (the ssh user), so it stays.
# `?` and `#` end the authority (RFC 3986 3.2; curl and git agree): in `https://evil?@good/` the host is
# `evil`, and the `@good/` after it is not a userinfo to strip (that would show `good` as the host).
_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s'\"<>]*@")


# ?access_token=..., &private_token=..., X-Amz-Signature=...: a secret in a query string.
_QUERY_SECRET = re.compile(r"(?i)([?&;](?:[\w.-]*(?:token|secret|passw(?:or)?d|pwd|signature|sig|api[_-]?key|"
                           r"credential|auth)[\w.-]*)=)[^&#;\s'\"<>]+")


def redact(text: object) -> str:
    """`text` with the user[:token]@ of every URL in it removed, and the value of any query parameter
    named like a secret (`access_token`, `private_token`, `X-Amz-Signature`, ...) replaced by `***`
    (for messages, JSON, HTML, summaries)."""
    return _QUERY_SECRET.sub(r"\1***", _USERINFO.sub(r"\1", "" if text is None else str(text)))


# ---------------------------------------------------------------------------
# git operands are never options
# ---------------------------------------------------------------------------
# `-c protocol.ext.allow=never`: the `ext::` transport runs a command; git refuses it by default,
# this keeps a user's or system's git config from allowing it for URLs read from a service.
GIT = ("git", "-c", "protocol.ext.allow=never")


class UntrustedValue(ValueError):
    """A value from outside that cannot be used as it is (named, with what is allowed)."""


def git_value(value: object, what: str) -> str:
    """`value` as a git operand: a non-empty string without a leading `-` or control characters.
    Callers also put `--end-of-options` before it (git >= 2.24)."""
    text = "" if value is None else str(value)
    if not text or text.startswith("-") or re.search(r"[\x00-\x1f\x7f]", text):
        raise UntrustedValue(f"{what} must be a git URL or path, not starting with '-' and without control "
                             f"characters (got {redact(text)!r})")
    return text


# A branch or tag name as `git check-ref-format --allow-onelevel` accepts it (git-check-ref-format(1)), and
# not a refspec: no `:` (a destination ref), `*` (every branch), leading `+` (forced) or `^` (negative).
_REF_COMPONENT = r"(?!\.)(?:(?!\.\.|@\{)[^\x00-\x20\x7f~^:?*\[\\/])+(?<!\.lock)"
_REF = re.compile(rf"^(?![+-]){_REF_COMPONENT}(?:/{_REF_COMPONENT})*(?<!\.)$")


def git_ref(value: object, what: str = "ref") -> str:
    """`value` as the branch or tag to fetch: a ref name git accepts, never a refspec or an option."""
    text = "" if value is None else str(value)
    if not _REF.match(text) or text == "@":
        raise UntrustedValue(f"{what} must be a branch or tag name, not starting with '-' or '+' (git "
                             f"check-ref-format: no spaces, '..', '@{{' or any of ~^:?*[\\); got {redact(text)!r}")
    return text


# ---------------------------------------------------------------------------
# Which template is the canonical one
# ---------------------------------------------------------------------------
_SCP = re.compile(r"^(?:[^@/:\s]+@)?(?P<host>[^/:\s]+):(?P<path>(?!//).+)$")
_GIT_SUFFIX = re.compile(r"(\.git)?/*$")
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^/@]*@)?(?P<host>[^/]*)(?P<path>/.*)?$")
# What a canonical template URL may look like, by RFC 3986's grammar without the parts git and curl read
# differently from a regular expression: userinfo of unreserved/sub-delims/pct-encoded characters, an
# ASCII host (or [IPv6]), a decimal port, a path without `?`, `#`, backslash or spaces. `http://EVIL?@GOOD/x.git`
# reached EVIL (curl ends the authority at `?`/`#`) while a looser pattern compared GOOD (issue 27 review).
_STRICT_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[A-Za-z0-9._~%!$&'()*+,;=:-]*@)?"
                         r"(?:[A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$")
_STRICT_SCP = re.compile(r"^(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:[A-Za-z0-9._~%+,=@/-]+$")


def normalise_source(source: object) -> str:
    """A template location in a form two spellings of the same repository share: no `git+`,
    gh:/gl: expanded, no userinfo, scheme and host lowercased, scp-like ssh as ssh://, no
    trailing `/` or `.git` in a URL; a local path (or file:// URL) absolute and resolved."""
    text = str(source or "").strip()
    text = text[4:] if text.startswith("git+") else text
    for alias, base in (("gh:", "https://github.com/"), ("gl:", "https://gitlab.com/")):
        if text.startswith(alias):
            text = base + text[len(alias):].lstrip("/")
    url = _URL.match(text)
    if url and url["scheme"].lower() == "file":
        text = url["path"] or "/"
    elif url:
        return f"{url['scheme'].lower()}://{url['host'].lower()}{_GIT_SUFFIX.sub('', url['path'] or '')}"
    elif _SCP.match(text) and not text.startswith(("/", ".", "~")):
        scp = _SCP.match(text)
        return f"ssh://{scp['host'].lower()}/{_GIT_SUFFIX.sub('', scp['path'].lstrip('/'))}"
    path = Path(text).expanduser()
    try:
        path = path.resolve()
    except (OSError, RuntimeError):
        path = path.absolute()
    return str(path)  # `x` and `x.git` are two directories (a `.git` suffix is one spelling only in URLs)


def same_source(src_path: object, *canonical: object, base: str | Path | None = None) -> bool:
    """Is `src_path` (a service's `_src_path`) one of the canonical template's spellings?

    Only a value git and copier read the same way can be: a URL or scp-like address must match
    RFC 3986 strictly (no `?`, `#`, `\\`, spaces, non-ASCII host); a relative path is resolved against
    `base`, the service checkout copier runs in (copier reads `_src_path` relative to its cwd), and
    is never canonical without one."""
    text = "" if src_path is None else str(src_path).strip()
    if not text or text != str(src_path) or re.search(r"[\x00-\x1f\x7f]", text):
        return False
    bare = text[4:] if text.startswith("git+") else text
    if "://" in bare:
        if not _STRICT_URL.match(bare):
            return False
    elif _SCP.match(bare) and not bare.startswith(("/", ".", "~")):
        if not _STRICT_SCP.match(bare):
            return False
    elif not bare.startswith(("/", "~", "gh:", "gl:")):
        if base is None:
            return False
        text = str(Path(base) / bare)
    mine = normalise_source(text)
    return any(c and normalise_source(c) == mine for c in canonical)


# ---------------------------------------------------------------------------
# Answers files: bounded parsing, typed fields
# ---------------------------------------------------------------------------
MAX_ANSWERS_BYTES = 64 * 1024  # a real answers file is about 1 KB
MAX_DEPTH = 8


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without aliases: `*ref` (the billion-laughs expansion) is refused. The pure-Python
    loader: the C one composes nodes in C, out of reach of this check."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in an answers file",
                                              event.start_mark)
        return super().compose_node(parent, index)


class AnswersError(ValueError):
    """An answers file that cannot be used: one line naming the field and what is allowed."""


# field -> (allowed Python types, what to say)
ANSWER_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "_src_path": ((str,), "a git URL or path"),
    "_commit": ((str, int, float), "a template tag such as v1.2.0"),
    "service_name": ((str,), "a string"),
    "owner": ((str,), "a string"),
    "system": ((str, type(None)), "a string"),
    "runner_mode": ((str,), "a string"),
    "node_major": ((int,), "an integer"),
    "aws_region": ((str,), "a string"),          # paved dora: where the service runs
    "ecs_cluster_prefix": ((str,), "a string"),
    "ecr_repository": ((str,), "a string"),
    "architectures": ((list, str), "a list of strings"),
    "_placeholders": ((list, str), "a list of strings"),
}


def _depth(value, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([level, *(_depth(v, level + 1) for v in value.values())])
    if isinstance(value, list):
        return max([level, *(_depth(v, level + 1) for v in value)])
    return level


def bounded_yaml(text: str | bytes, name: str, max_bytes: int = MAX_ANSWERS_BYTES):
    """YAML from outside: at most `max_bytes`, UTF-8, safe tags only, no aliases, nesting at most
    MAX_DEPTH; AnswersError (one line naming the file) otherwise."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > max_bytes:
        raise AnswersError(f"{name} is larger than {max_bytes} bytes: not read")
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError as exc:
            raise AnswersError(f"{name} is not UTF-8 text") from exc
    try:
        try:
            data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a safe loader without aliases
        except RecursionError as exc:
            raise AnswersError(f"{name} nests deeper than {MAX_DEPTH} levels") from exc
        except (ValueError, OverflowError) as exc:  # an int of more than 4300 digits (sys.int_info), 1:2:...:9
            raise AnswersError(f"{name} is not valid YAML: a number too large to read ({str(exc)[:60]})") from exc
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise AnswersError(f"{name} is not valid YAML: {problem}{where}") from exc
    if _depth(data) > MAX_DEPTH:
        raise AnswersError(f"{name} nests deeper than {MAX_DEPTH} levels")
    if _huge_int(data):  # 0xfff... or 1:2:...:9 of thousands of digits: no str() of it later (ValueError)
        raise AnswersError(f"{name} is not valid YAML: a number too large to read (more than 64 bits)")
    return data


def _huge_int(value) -> bool:
    if isinstance(value, int):
        return abs(value).bit_length() > 64
    if isinstance(value, dict):
        return any(_huge_int(k) or _huge_int(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_huge_int(v) for v in value)
    return False


def load_answers(text: str | bytes, name: str = ".copier-answers.yml") -> dict:
    """The answers of one answers file, or AnswersError: `bounded_yaml`, a mapping, and the fields
    paved reads of the types in ANSWER_TYPES (`architectures`, `_placeholders`: lists of strings)."""
    data = bounded_yaml(text, name)
    if not isinstance(data, dict):
        raise AnswersError(f"{name} is not a mapping of answers")
    for field, (types, what) in ANSWER_TYPES.items():
        if field not in data:
            continue
        value = data[field]
        if isinstance(value, bool) or not isinstance(value, types):
            if value is None:
                continue
            raise AnswersError(f"{name}: {field} must be {what} (got {type(value).__name__})")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise AnswersError(f"{name}: {field} must be {what}")
    for key in data:
        if not isinstance(key, str):
            raise AnswersError(f"{name}: every answer name must be a string (got {key!r:.40})")
    return data
