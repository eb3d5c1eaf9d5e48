"""An executable model of how Terraform evaluates a module's expressions.

Real Terraform runs here with hashicorp/aws 5.100.0 only (tfcli.py), which
cannot plan the modules' provider 6 arguments; for those, this evaluates the
parts of a module that decide whether `plan` succeeds and what it produces
(test_terraform_differential.py keeps it in agreement with Terraform): variable type conversion
(``optional()`` defaults included), ``validation`` blocks, ``locals``,
resource arguments, ``precondition`` blocks and ``templatefile()`` templates.
It walks python-hcl2's Lark parse tree (not its lossy dict form) and follows
the HCL and Terraform documentation:

- https://developer.hashicorp.com/terraform/language/expressions (operators,
  conditionals, ``for`` expressions, splats, string templates and escapes);
- https://developer.hashicorp.com/terraform/language/functions (the built-in
  functions implemented below, each with Terraform's semantics, e.g. regex()
  returning a string, a list or a map depending on its capture groups);
- https://developer.hashicorp.com/terraform/language/expressions/type-constraints
  (conversion and ``optional(type, default)``);
- logical operators evaluate both operands before Terraform 1.12 (no
  short-circuit), so `var.x != null && var.x.y > 0` fails there on null:
  the evaluator models that unless told the module requires >= 1.12.

Values computed by the provider at apply time (ARNs, IDs, the region of a data
source) come from the caller as ``known`` values. Anything unsupported raises,
so a module cannot silently drift into syntax this model would get wrong.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
import re
from pathlib import Path
from typing import Any, Callable

import hcl2
from lark import Token, Tree


class EvalError(Exception):
    """An expression Terraform would reject (the message says why)."""


class Unknown:
    """A value known only after apply (an ID of a resource created in the same run)."""

    def __repr__(self):
        return "(known after apply)"


UNKNOWN = Unknown()


def _has_unknown(value) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict) and not isinstance(value, (Namespace, ResourceView)):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_unknown(v) for v in value)
    return False


class TfSet(tuple):
    """A Terraform set: unique elements, iterated in Terraform's order (strings sorted)."""

    def __new__(cls, items):
        unique = []
        for item in items:
            if item not in unique:
                unique.append(item)
        if all(isinstance(i, str) for i in unique):
            unique.sort()
        return super().__new__(cls, unique)


# --------------------------------------------------------------------------- parse


def _is_nl(node) -> bool:
    return isinstance(node, Tree) and node.data == "new_line_or_comment"


def _trees(node: Tree) -> list[Tree]:
    return [c for c in node.children if isinstance(c, Tree) and not _is_nl(c)]


def parse_expression(text: str) -> Tree:
    tree = hcl2.parses_to_tree(f"x = {text}\n")
    return _attribute_expr(_trees(_trees(tree)[0])[0])


def _attribute_expr(attribute: Tree) -> Tree:
    return _trees(attribute)[-1]


def _label(node) -> str:
    if isinstance(node, Tree) and node.data == "string":
        return "".join(str(p.children[0]) for p in node.children if isinstance(p, Tree))
    if isinstance(node, Tree):
        return str(node.children[0].children[0] if isinstance(node.children[0], Tree) else node.children[0])
    return str(node)


class Body:
    """Attributes (name -> expression tree) and nested blocks of one HCL body."""

    def __init__(self, tree: Tree):
        self.attrs: dict[str, Tree] = {}
        self.blocks: list[tuple[str, list[str], Body]] = []
        for child in _trees(tree):
            if child.data == "attribute":
                self.attrs[_label(child.children[0])] = _attribute_expr(child)
            elif child.data == "block":
                parts = [c for c in child.children if not _is_nl(c) and not isinstance(c, Token)]
                *names, body = parts
                self.blocks.append((_label(names[0]), [_label(n) for n in names[1:]], Body(body)))

    def blocks_of(self, kind: str) -> list[tuple[list[str], "Body"]]:
        return [(labels, body) for k, labels, body in self.blocks if k == kind]

    def block(self, kind: str) -> "Body | None":
        found = self.blocks_of(kind)
        return found[0][1] if found else None


_PARSED: dict[tuple[str, int], Body] = {}


def parse_file(path: Path) -> Body:
    """Parsed once per file version (Bodies are never mutated)."""
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _PARSED:
        _PARSED[key] = Body(_trees(hcl2.parses_to_tree(path.read_text(encoding="utf-8")))[0])
    return _PARSED[key]


# --------------------------------------------------------------------------- strings


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _unescape(text: str) -> str:
    """HCL quoted-string escapes (\\n \\r \\t \\" \\\\ \\uNNNN \\UNNNNNNNN)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u":
            out.append(chr(int(text[i + 2:i + 6], 16)))
            i += 6
        elif nxt == "U":
            out.append(chr(int(text[i + 2:i + 10], 16)))
            i += 10
        else:
            raise EvalError(f"invalid escape sequence \\{nxt}")
    return "".join(out)


def to_string(value) -> str:
    """Terraform's automatic conversion of a primitive to string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number_text(value)
    if isinstance(value, str):
        return value
    if value is None:
        raise EvalError("cannot interpolate null")
    raise EvalError(f"cannot convert {type(value).__name__} to string")


# A string converts to a number only if it is a decimal literal, nothing around
# it (cty's ParseNumberVal: big.Float.Parse in base 10, which takes neither
# spaces nor `_` separators; Python's float() takes both).
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _num(value):
    if isinstance(value, bool) or value is None:
        raise EvalError(f"a number is required, got {value!r}")
    if isinstance(value, str):
        if re.fullmatch(r"[+-]?[iI]nf", value):  # big.Float.Parse takes "inf" and "Inf"
            return float(value.lower())
        if not _DECIMAL.fullmatch(value):
            raise EvalError(f"a number is required, got {value!r}")
        if re.fullmatch(r"[+-]?[0-9]+", value) and value.lstrip("+") != "-0":
            return int(value)  # exact, as Terraform's arbitrary-precision numbers
        value = float(value)
    if isinstance(value, float) and value.is_integer() and not (value == 0 and math.copysign(1, value) < 0):
        return int(value)
    return value


def number_text(value) -> str:
    """A number as Terraform writes it into a string or JSON: plain decimal,
    never an exponent (cty formats big.Float with Text('f', -1): 1e-07 is
    0.0000001). Modelled for float64 values, i.e. literals and exact results;
    Terraform computes with 512-bit floats, so 1/3 has more digits there."""
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


# --------------------------------------------------------------------------- template files


def _template_segments(text: str, unescape: bool) -> list:
    """Split template text into literal strings and ('interp'|'directive', expr, strip_l, strip_r)."""
    segments: list = []
    i, literal = 0, []
    while i < len(text):
        if text.startswith(("$${", "%%{"), i):
            literal.append(text[i + 1:i + 3])
            i += 3
            continue
        if text.startswith(("${", "%{"), i):
            kind = "interp" if text[i] == "$" else "directive"
            j, depth, in_string = i + 2, 1, False
            while depth:
                ch = text[j]
                if in_string:
                    if ch == "\\":
                        j += 1
                    elif ch == '"':
                        in_string = False
                elif ch == '"':
                    in_string = True
                elif ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                j += 1
            inner = text[i + 2:j - 1]
            strip_l, strip_r = inner.startswith("~"), inner.endswith("~")
            inner = inner[1 if strip_l else 0:len(inner) - (1 if strip_r else 0)].strip()
            segments.append("".join(literal))
            literal = []
            segments.append((kind, inner, strip_l, strip_r))
            i = j
            continue
        if unescape and text[i] == "\\":
            n = {"u": 6, "U": 10}.get(text[i + 1], 2)
            literal.append(_unescape(text[i:i + n]))
            i += n
            continue
        literal.append(text[i])
        i += 1
    segments.append("".join(literal))
    # ~ strips the whitespace (newlines included) next to the marker.
    for idx, seg in enumerate(segments):
        if isinstance(seg, tuple):
            if seg[2] and idx > 0:
                segments[idx - 1] = segments[idx - 1].rstrip()
            if seg[3] and idx + 1 < len(segments):
                segments[idx + 1] = segments[idx + 1].lstrip()
    return segments


def _template_tree(segments: list, pos: int = 0, stop: tuple = ()) -> tuple[list, int, str]:
    nodes: list = []
    while pos < len(segments):
        seg = segments[pos]
        if isinstance(seg, str):
            nodes.append(("text", seg))
            pos += 1
            continue
        kind, inner, *_ = seg
        if kind == "interp":
            nodes.append(("interp", parse_expression(inner)))
            pos += 1
            continue
        word = inner.split(None, 1)[0]
        if word in stop:
            return nodes, pos, word
        if word == "if":
            then, pos, ended = _template_tree(segments, pos + 1, ("else", "endif"))
            other: list = []
            if ended == "else":
                other, pos, _ = _template_tree(segments, pos + 1, ("endif",))
            nodes.append(("if", parse_expression(inner[2:].strip()), then, other))
        elif word == "for":
            m = re.fullmatch(r"for\s+(\w+)(?:\s*,\s*(\w+))?\s+in\s+(.+)", inner, re.S)
            if not m:
                raise EvalError(f"bad template directive %{{{inner}}}")
            body, pos, _ = _template_tree(segments, pos + 1, ("endfor",))
            nodes.append(("for", m.group(1), m.group(2), parse_expression(m.group(3)), body))
        else:
            raise EvalError(f"unexpected template directive %{{{inner}}}")
        pos += 1
    if stop:
        raise EvalError(f"template lacks %{{{stop[-1]}}}")
    return nodes, pos, ""


# --------------------------------------------------------------------------- evaluator


class Namespace(dict):
    """var / local / path / resource-type namespaces: a missing key is an error Terraform reports too."""

    def __init__(self, label: str, data=(), resolve: Callable[[str], Any] | None = None):
        super().__init__(data)
        self.label, self.resolve = label, resolve

    def __missing__(self, key):
        if self.resolve is not None:
            value = self.resolve(key)
            self[key] = value
            return value
        raise EvalError(f"reference to undeclared {self.label}.{key}")


class Evaluator:
    def __init__(self, scope: dict, short_circuit: bool = False, base_dir: Path | None = None):
        self.scope = scope
        self.short_circuit = short_circuit
        self.base_dir = base_dir

    def child(self, **names) -> "Evaluator":
        return Evaluator({**self.scope, **names}, self.short_circuit, self.base_dir)

    # -- entry points
    def eval(self, node):
        method = getattr(self, f"_{node.data}", None)
        if method is None:
            raise EvalError(f"unsupported HCL construct {node.data}")
        return method(node)

    def render_template(self, text: str, unescape: bool = False, **names) -> str:
        nodes, _, _ = _template_tree(_template_segments(text, unescape))
        return self.child(**names)._render(nodes)

    def _render(self, nodes) -> str:
        out = []
        for node in nodes:
            if node[0] == "text":
                out.append(node[1])
            elif node[0] == "interp":
                value = self.eval(node[1])
                if isinstance(value, Unknown):
                    return UNKNOWN
                out.append(to_string(value))
            elif node[0] == "if":
                cond = self.eval(node[1])
                if not isinstance(cond, bool):
                    raise EvalError("a template %{if} condition must be bool")
                out.append(self._render(node[2] if cond else node[3]))
            elif node[0] == "for":
                _, a, b, seq, body = node
                for key, value in _iterate(self.eval(seq)):
                    names = {a: value} if b is None else {a: key, b: value}
                    out.append(self.child(**names)._render(body))
        return "".join(out)

    # -- terms
    def _expr_term(self, node):
        inner = _trees(node)
        if len(inner) != 1:
            raise EvalError("bad expression term")
        return self.eval(inner[0])

    def _int_lit(self, node):
        return int(str(node.children[0]))

    def _float_lit(self, node):
        return _num(float(str(node.children[0])))

    def _literal_value(self, node):
        return {"true": True, "false": False, "null": None}[str(node.children[0])]

    def _identifier(self, node):
        name = str(node.children[0])
        if name not in self.scope:
            raise EvalError(f"unknown name {name}")
        return self.scope[name]

    def _string(self, node):
        out = []
        for part in (p for p in node.children if isinstance(p, Tree)):
            child = part.children[0]
            if isinstance(child, Token) and child.type == "STRING_CHARS":
                out.append(_unescape(str(child)))
            elif isinstance(child, Token) and child.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                out.append(str(child)[1:])
            elif isinstance(child, Tree) and child.data == "interpolation":
                value = self.eval(_trees(child)[0])
                if isinstance(value, Unknown):
                    return UNKNOWN
                out.append(to_string(value))
            else:
                raise EvalError("template directives inside quoted strings are not modelled")
        return "".join(out)

    def _heredoc_template(self, node):
        text = str(node.children[0])
        marker = re.match(r"<<(\w[\w.-]*)\r?\n", text)
        body = text[marker.end():]
        body = body[: body.rstrip().rfind("\n") + 1]
        return self.render_template(body)

    def _tuple(self, node):
        return [self.eval(c) for c in _trees(node)]

    def _object(self, node):
        result = {}
        for elem in _trees(node):
            key_node, value_node = _trees(elem)
            key_inner = _trees(key_node)
            if not key_inner or key_inner[0].data == "keyword":
                key = str((key_inner[0] if key_inner else key_node).children[0])
            elif key_inner[0].data == "expr_term" and _trees(key_inner[0])[0].data == "identifier" and not any(
                isinstance(c, Token) and c.type == "LPAR" for c in key_inner[0].children
            ):
                key = str(_trees(key_inner[0])[0].children[0])
            else:
                key = self.eval(key_inner[0])
                if isinstance(key, Unknown):
                    return UNKNOWN
                key = to_string(key)
            result[key] = self.eval(value_node)
        return result

    def _conditional(self, node):
        cond, then, other = _trees(node)
        value = self.eval(cond)
        if isinstance(value, Unknown):
            return UNKNOWN
        if not isinstance(value, bool):
            raise EvalError(f"condition must be bool, got {value!r}")
        return self.eval(then if value else other)

    def _unary_op(self, node):
        op = str(node.children[0])
        value = self.eval(node.children[1])
        if isinstance(value, Unknown):
            return UNKNOWN
        if op == "!":
            if not isinstance(value, bool):
                raise EvalError("! needs a bool")
            return not value
        return -_num(value)

    def _binary_op(self, node):
        lhs_node, term = _trees(node)
        op_node, rhs_node = _trees(term)
        op = str(op_node.children[0])
        lhs = self.eval(lhs_node)
        if isinstance(lhs, Unknown) and op not in ("&&", "||"):
            self.eval(rhs_node)
            return UNKNOWN
        if op in ("&&", "||"):
            if isinstance(lhs, Unknown):
                rhs = self.eval(rhs_node)
                return rhs if (isinstance(rhs, bool) and rhs == (op == "||")) else UNKNOWN
            if not isinstance(lhs, bool):
                raise EvalError(f"{op} needs bool operands, got {lhs!r}")
            if self.short_circuit and lhs == (op == "||"):
                return lhs
            rhs = self.eval(rhs_node)
            if isinstance(rhs, Unknown):
                return lhs if lhs == (op == "||") else UNKNOWN
            if not isinstance(rhs, bool):
                raise EvalError(f"{op} needs bool operands, got {rhs!r}")
            return (lhs and rhs) if op == "&&" else (lhs or rhs)
        rhs = self.eval(rhs_node)
        if isinstance(rhs, Unknown):
            return UNKNOWN
        if op == "==":
            return _equal(lhs, rhs)
        if op == "!=":
            return not _equal(lhs, rhs)
        a, b = _num(lhs), _num(rhs)
        if op == "/" and b == 0:
            raise EvalError("division by zero")
        result = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
                  "%": lambda: math.fmod(a, b), "<": lambda: a < b, ">": lambda: a > b,
                  "<=": lambda: a <= b, ">=": lambda: a >= b}[op]()
        return result if isinstance(result, bool) else _num(result)

    def _get_attr_expr_term(self, node):
        base, attr = _trees(node)
        return _get(self.eval(base), _label(_trees(attr)[0]))

    def _index_expr_term(self, node):
        base, index = _trees(node)
        value = self.eval(base)
        if index.data == "short_index":
            key = int(str(index.children[1]))
        else:
            key = self.eval(_trees(index)[0])
        return _index(value, key)

    def _attr_splat_expr_term(self, node):
        base, splat = _trees(node)
        return self._splat(self.eval(base), _trees(splat))

    _full_splat_expr_term = _attr_splat_expr_term

    def _splat(self, value, steps):
        if value is None:
            return []
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        out = []
        for item in items:
            for step in steps:
                if step.data == "get_attr":
                    item = _get(item, _label(_trees(step)[0]))
                else:
                    item = _index(item, self.eval(_trees(step)[0]))
            out.append(item)
        return out

    def _function_call(self, node):
        ident, *rest = _trees(node)
        name = str(ident.children[0])
        arg_nodes = _trees(rest[0]) if rest else []
        expand = bool(rest) and any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in rest[0].children)
        if name in ("can", "try"):
            return self._can_try(name, arg_nodes)
        if name not in FUNCTIONS:
            raise EvalError(f"call to unknown function {name}()")
        args = [self.eval(a) for a in arg_nodes]
        if expand:
            args = args[:-1] + list(args[-1])
        if name == "templatefile":
            return self._templatefile(*args)
        if name not in _CONTAINER_FUNCTIONS and any(_has_unknown(a) for a in args):
            return UNKNOWN
        if any(isinstance(a, Unknown) for a in args):
            return UNKNOWN
        return FUNCTIONS[name](*args)

    def _can_try(self, name, arg_nodes):
        for arg in arg_nodes:
            try:
                value = self.eval(arg)
            except (EvalError, KeyError, IndexError, TypeError, ValueError, re.error):
                continue
            if name == "can":
                return UNKNOWN if _has_unknown(value) else True
            return value
        if name == "can":
            return False
        raise EvalError("no try() argument could be evaluated")

    def _templatefile(self, path, variables):
        text = Path(path).read_text(encoding="utf-8")
        return Evaluator(dict(variables), self.short_circuit, self.base_dir).render_template(text)

    def _for_tuple_expr(self, node):
        intro, *parts = _trees(node)
        value_expr, cond = parts[0], (parts[1] if len(parts) > 1 else None)
        out = []
        for names in self._for_names(intro):
            if names is None:
                return UNKNOWN
            ev = self.child(**names)
            if cond is not None:
                keep = ev.eval(_trees(cond)[0])
                if isinstance(keep, Unknown):
                    return UNKNOWN
                if not _bool(keep):
                    continue
            out.append(ev.eval(value_expr))
        return out

    def _for_object_expr(self, node):
        intro, key_expr, value_expr, *rest = _trees(node)
        grouping = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in node.children)
        cond = rest[0] if rest else None
        out: dict = {}
        for names in self._for_names(intro):
            if names is None:
                return UNKNOWN
            ev = self.child(**names)
            if cond is not None:
                keep = ev.eval(_trees(cond)[0])
                if isinstance(keep, Unknown):
                    return UNKNOWN
                if not _bool(keep):
                    continue
            key = ev.eval(key_expr)
            if isinstance(key, Unknown):
                return UNKNOWN
            key = to_string(key)
            value = ev.eval(value_expr)
            if grouping:
                out.setdefault(key, []).append(value)
            elif key in out:
                raise EvalError(f"duplicate object key {key!r} in for expression (use ... to group)")
            else:
                out[key] = value
        return out

    def _for_names(self, intro):
        idents = [str(t.children[0]) for t in _trees(intro) if t.data == "identifier"]
        (collection_node,) = [t for t in _trees(intro) if t.data != "identifier"]
        collection = self.eval(collection_node)
        if isinstance(collection, Unknown):
            yield None
            return
        for key, value in _iterate(collection):
            yield {idents[0]: value} if len(idents) == 1 else {idents[0]: key, idents[1]: value}


def _bool(value):
    if not isinstance(value, bool):
        raise EvalError(f"a bool is required, got {value!r}")
    return value


def _equal(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b) and not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))):
        return False
    return a == b


def _iterate(value):
    if value is None:
        raise EvalError("cannot iterate over null")
    if isinstance(value, ResourceView) and value.multi:
        keys = value.module.instance_keys(value.address)
        if keys and isinstance(keys[0], int):
            return [(k, value[str(k)]) for k in keys]
        return [(k, value[k]) for k in keys]
    if isinstance(value, dict):
        return [(k, value[k]) for k in sorted(value)]
    if isinstance(value, TfSet):
        return [(v, v) for v in value]
    if isinstance(value, (list, tuple)):
        return list(enumerate(value))
    raise EvalError(f"cannot iterate over {type(value).__name__}")


def _get(value, name):
    if isinstance(value, Unknown):
        return UNKNOWN
    if value is None:
        raise EvalError(f"attempt to get attribute {name!r} from a null value")
    if isinstance(value, (Namespace, ResourceView)):
        return value[name]
    if isinstance(value, dict):
        if name not in value:
            raise EvalError(f"object has no attribute {name!r}")
        return value[name]
    raise EvalError(f"cannot get attribute {name!r} of {type(value).__name__}")


def _index(value, key):
    if isinstance(value, Unknown) or isinstance(key, Unknown):
        return UNKNOWN
    if value is None:
        raise EvalError("attempt to index a null value")
    if isinstance(value, (Namespace, ResourceView)):
        return value[to_string(key)]
    if isinstance(value, dict):
        key = to_string(key)
        if key not in value:
            raise EvalError(f"the given key {key!r} does not exist")
        return value[key]
    if isinstance(value, (list, tuple)):
        key = _num(key)
        if not isinstance(key, int) or not 0 <= key < len(value):
            raise EvalError(f"index {key} out of range for a list of {len(value)}")
        return value[key]
    raise EvalError(f"cannot index {type(value).__name__}")


# --------------------------------------------------------------------------- functions


def _json_value(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


class _JsonNumber(float):
    """A non-integer number inside jsonencode(): written as plain decimal (number_text)."""


def _json_number_values(value):
    if isinstance(value, float) and not isinstance(value, bool) and not value.is_integer():
        return _JsonNumber(value)
    if isinstance(value, dict):
        return {k: _json_number_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_number_values(v) for v in value]
    return value


class _Encoder(json.JSONEncoder):
    def iterencode(self, o, _one_shot=False):
        # The pure-Python encoder calls float.__repr__ for floats; swap in
        # Terraform's rendering for the marked ones.
        return json.encoder._make_iterencode(
            {}, self.default, json.encoder.py_encode_basestring, self.indent,
            lambda f: number_text(f) if isinstance(f, _JsonNumber) else float.__repr__(f),
            self.key_separator, self.item_separator, self.sort_keys, self.skipkeys, _one_shot,
        )(o, 0)


def jsonencode(value) -> str:
    """Go's encoding/json as Terraform uses it: compact, UTF-8, HTML-sensitive characters escaped, keys sorted."""
    text = _Encoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(
        _json_number_values(_json_value(value)))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _regex(pattern, string):
    compiled = re.compile(_re2(pattern))
    m = compiled.search(string)
    if not m:
        raise EvalError(f"regex {pattern!r} does not match {string!r}")
    if compiled.groupindex:
        return {k: m.group(k) for k in compiled.groupindex}
    if compiled.groups:
        return list(m.groups())
    return m.group(0)


_RE2_CLASSES = {"s": "\t\n\f\r ", "d": "0-9", "w": "0-9A-Za-z_"}


def _re2(pattern: str) -> str:
    """An RE2 pattern (Terraform's engine) as an equivalent Python pattern.

    RE2 (github.com/google/re2/wiki/Syntax): without the m flag `$` matches
    only at the end of the text (Python's also before a final newline: \\Z
    here), `\\z` is the end of text, and `\\s` `\\d` `\\w` are ASCII classes
    (Python's are Unicode). Named groups are written (?P<n>...) or (?<n>...)."""
    if re.search(r"\(\?[a-zA-Z]*m", pattern):
        raise EvalError(f"regex flag m not modelled: {pattern!r}")
    out, i, in_class, class_start = [], 0, False, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in _RE2_CLASSES:
                chars = _RE2_CLASSES[nxt].replace("\n", "\\n").replace("\t", "\\t").replace("\f", "\\f").replace("\r", "\\r")
                out.append(chars if in_class else f"[{chars}]")
            elif nxt == "z" and not in_class:
                out.append("\\Z")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            class_start = False
            continue
        if in_class:
            if ch == "]" and not class_start:
                in_class = False
            class_start = class_start and ch == "^" and out[-1] == "["
        elif ch == "[":
            in_class, class_start = True, True
        elif ch == "$":
            out.append("\\Z")
            i += 1
            continue
        elif pattern.startswith("(?<", i) and pattern[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _regexall(pattern, string):
    compiled = re.compile(_re2(pattern))
    out = []
    for m in compiled.finditer(string):
        out.append(m.group(0) if not compiled.groups else list(m.groups()))
    return out


def _replace(string, search, replacement):
    if len(search) > 1 and search.startswith("/") and search.endswith("/"):
        return re.sub(_re2(search[1:-1]), re.sub(r"\$(\d+)", r"\\\1", replacement), string)
    return string.replace(search, replacement)


def _format(spec, *args):
    args = list(args)

    def one(m):
        verb = m.group(2)
        if verb == "%":
            return "%"
        value = args.pop(0)
        if verb == "s":
            return to_string(value)
        if verb == "d":
            return str(int(_num(value)))
        if verb == "q":
            return json.dumps(to_string(value))
        if verb == "v":
            return to_string(value) if not isinstance(value, (dict, list)) else jsonencode(value)
        raise EvalError(f"format verb %{verb} not modelled")

    return re.sub(r"%(-?\d*)([sdqv%])", one, spec)


def _lookup(mapping, key, *default):
    if key in mapping:
        return mapping[key]
    if default:
        return default[0]
    raise EvalError(f"lookup: no key {key!r}")


def _coalesce(*args):
    for arg in args:
        if arg is not None and arg != "":
            return arg
    raise EvalError("coalesce: no non-null, non-empty argument")


def _merge(*maps):
    out: dict = {}
    for m in maps:
        if m is None:
            continue
        if not isinstance(m, dict):
            raise EvalError("merge() takes maps or objects")
        out.update(m)
    return out


def _substr(string, offset, length):
    if offset < 0:
        offset = len(string) + offset
    return string[offset:] if length == -1 else string[offset:offset + length]


def _element(seq, index):
    if not seq:
        raise EvalError("element() of an empty list")
    return seq[int(index) % len(seq)]


def _slice(seq, start, end):
    if not 0 <= start <= end <= len(seq):
        raise EvalError(f"slice({start}, {end}) out of range for {len(seq)} elements")
    return list(seq[start:end])


def _flatten(seq):
    out = []
    for item in seq:
        out.extend(_flatten(item) if isinstance(item, (list, tuple)) else [item])
    return out


def _one(seq):
    if len(seq) > 1:
        raise EvalError("one() of more than one element")
    return seq[0] if seq else None


def _tonumber(value):
    return None if value is None else _num(value)


def _tobool(value):
    if value is None or isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise EvalError(f"cannot convert {value!r} to bool")


def _keys(value):
    return sorted(value)


def _values(value):
    return [value[k] for k in sorted(value)]


def _length(value):
    if value is None:
        raise EvalError("length() of null")
    return len(value)


def _sort(seq):
    return sorted(to_string(v) for v in seq)


# Functions that only move values around: an unknown element stays an unknown element.
_CONTAINER_FUNCTIONS = {"merge", "concat", "tolist", "tomap", "nonsensitive", "sensitive", "flatten", "lookup", "element", "values", "one"}

FUNCTIONS: dict[str, Callable] = {
    "abs": abs,
    "alltrue": lambda seq: all(_bool(v) for v in seq),
    "anytrue": lambda seq: any(_bool(v) for v in seq),
    "ceil": lambda n: math.ceil(n),
    "coalesce": _coalesce,
    "compact": lambda seq: [v for v in seq if v not in (None, "")],
    "concat": lambda *lists: [v for seq in lists for v in seq],
    "contains": lambda seq, value: any(_equal(v, value) for v in seq),
    "distinct": lambda seq: [v for i, v in enumerate(seq) if v not in list(seq)[:i]],
    "element": _element,
    "endswith": lambda s, suffix: s.endswith(suffix),
    "flatten": _flatten,
    "floor": lambda n: math.floor(n),
    "format": _format,
    "join": lambda sep, seq: sep.join(to_string(v) for v in seq),
    "jsonencode": jsonencode,
    "jsondecode": json.loads,
    "keys": _keys,
    "length": _length,
    "lookup": _lookup,
    "lower": lambda s: s.lower(),
    "max": lambda *n: _num(max(n)),
    "merge": _merge,
    "min": lambda *n: _num(min(n)),
    "nonsensitive": lambda v: v,
    "one": _one,
    "range": lambda *a: list(range(*(int(x) for x in a))),
    "regex": _regex,
    "regexall": _regexall,
    "replace": _replace,
    "reverse": lambda seq: list(reversed(seq)),
    "sensitive": lambda v: v,
    "sha256": lambda s: __import__("hashlib").sha256(s.encode()).hexdigest(),
    "md5": lambda s: __import__("hashlib").md5(s.encode()).hexdigest(),
    "setunion": lambda *sets: TfSet(v for s in sets for v in s),
    "setintersection": lambda first, *rest: TfSet(v for v in first if all(v in s for s in rest)),
    "setsubtract": lambda a, b: TfSet(v for v in a if v not in b),
    "slice": _slice,
    "sort": _sort,
    "split": lambda sep, s: s.split(sep),
    "startswith": lambda s, prefix: s.startswith(prefix),
    "strcontains": lambda s, sub: sub in s,
    "substr": _substr,
    "sum": lambda seq: _num(sum(seq)),
    "templatefile": None,  # needs the evaluator (handled in _function_call)
    "tobool": _tobool,
    "tolist": lambda seq: list(seq),
    "tomap": lambda m: dict(m),
    "tonumber": _tonumber,
    "toset": lambda seq: TfSet(seq),
    "tostring": lambda v: None if v is None else to_string(v),
    "trim": lambda s, chars: s.strip(chars),
    "trimprefix": lambda s, p: s[len(p):] if s.startswith(p) else s,
    "trimspace": lambda s: s.strip(),
    "trimsuffix": lambda s, p: s[: -len(p)] if p and s.endswith(p) else s,
    "upper": lambda s: s.upper(),
    "values": _values,
    "zipmap": lambda ks, vs: dict(zip(ks, vs)),
    # Terraform writes YAML 1.2 in its own layout; the tests read the values back.
    "yamlencode": lambda v: __import__("yaml").safe_dump(_json_value(v), sort_keys=True),
}


# --------------------------------------------------------------------------- types


def convert(value, type_node: Tree | None, where: str):
    """Convert a value to a type constraint the way Terraform does, applying optional() defaults."""
    if type_node is None or value is None or isinstance(value, Unknown):
        return value
    kind, args = _type_parts(type_node)
    if kind == "any":
        return value
    if kind == "string":
        if isinstance(value, (dict, list, tuple)):
            raise EvalError(f"{where}: string required")
        return to_string(value)
    if kind == "number":
        try:
            return _num(value)
        except EvalError:
            raise EvalError(f"{where}: number required, got {value!r}") from None
    if kind == "bool":
        try:
            return _tobool(value)
        except EvalError:
            raise EvalError(f"{where}: bool required, got {value!r}") from None
    if kind in ("list", "set"):
        if not isinstance(value, (list, tuple)):
            raise EvalError(f"{where}: {kind} required, got {value!r}")
        items = [convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        return TfSet(items) if kind == "set" else items
    if kind == "map":
        if not isinstance(value, dict):
            raise EvalError(f"{where}: map required, got {value!r}")
        return {k: convert(v, args[0], f"{where}.{k}") for k, v in value.items()}
    if kind == "object":
        if not isinstance(value, dict):
            raise EvalError(f"{where}: object required, got {value!r}")
        out = {}
        for attr, (attr_type, optional, default) in args[0].items():
            if attr in value and value[attr] is not None:
                out[attr] = convert(value[attr], attr_type, f"{where}.{attr}")
            elif optional:
                out[attr] = convert(default, attr_type, f"{where}.{attr}")
            elif attr in value:
                out[attr] = None
            else:
                raise EvalError(f"{where}: attribute {attr!r} is required")
        return out
    if kind == "tuple":
        return [convert(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(zip(value, args[0]))]
    raise EvalError(f"type {kind} not modelled")


_TYPE_EVAL = Evaluator({})


def _type_parts(node: Tree):
    node = _unwrap(node)
    if node.data == "identifier":
        return str(node.children[0]), []
    if node.data == "function_call":
        ident, *rest = _trees(node)
        kind = str(ident.children[0])
        args = _trees(rest[0]) if rest else []
        if kind == "object":
            attrs = {}
            for elem in _trees(_unwrap(args[0])):
                key_node, type_expr = _trees(elem)
                attr = _label(_unwrap(_trees(key_node)[0]))
                inner = _unwrap(type_expr)
                if inner.data == "function_call" and str(_trees(inner)[0].children[0]) == "optional":
                    opt_args = _trees(_trees(inner)[1])
                    default = _TYPE_EVAL.eval(opt_args[1]) if len(opt_args) > 1 else None
                    attrs[attr] = (opt_args[0], True, default)
                else:
                    attrs[attr] = (type_expr, False, None)
            return "object", [attrs]
        if kind == "tuple":
            return "tuple", [[t for t in _trees(_unwrap(args[0]))]]
        return kind, args
    raise EvalError(f"unsupported type constraint {node.data}")


def _unwrap(node: Tree) -> Tree:
    while node.data == "expr_term" and len(_trees(node)) == 1 and not any(
        isinstance(c, Token) and c.type == "LPAR" for c in node.children
    ):
        node = _trees(node)[0]
    return node


# --------------------------------------------------------------------------- modules


class Module:
    """One Terraform module directory, evaluated for given inputs and provider-computed values.

    ``known`` maps "aws_x.name" / "data.aws_x.name" to the attributes the
    provider would report after apply (for `for_each` resources, a dict of
    instance key -> attributes, or a callable key -> attributes).
    """

    def __init__(self, directory: Path, inputs: dict | None = None, known: dict | None = None,
                 terraform_version: tuple[int, int] | None = None):
        self.dir = Path(directory)
        self.variables: dict[str, Body] = {}
        self.locals: dict[str, Tree] = {}
        self.resources: dict[str, Body] = {}
        self.outputs: dict[str, Body] = {}
        self.terraform: list[Body] = []
        self.module_calls: dict[str, Body] = {}
        for path in sorted(self.dir.glob("*.tf")):
            body = parse_file(path)
            for kind, labels, block in body.blocks:
                if kind == "variable":
                    self.variables[labels[0]] = block
                elif kind == "locals":
                    self.locals.update(block.attrs)
                elif kind == "resource":
                    self.resources[".".join(labels)] = block
                elif kind == "data":
                    self.resources["data." + ".".join(labels)] = block
                elif kind == "output":
                    self.outputs[labels[0]] = block
                elif kind == "terraform":
                    self.terraform.append(block)
                elif kind == "module":
                    self.module_calls[labels[0]] = block
        self.inputs = inputs if isinstance(inputs, LazyArguments) else dict(inputs or {})
        self.known = dict(known or {})
        # Evaluate as the oldest Terraform the module admits would.
        self.terraform_version = terraform_version or self.minimum_terraform_version()
        self.short_circuit = self.terraform_version >= (1, 12)
        unknown = set(self.inputs) - set(self.variables)
        if unknown:
            raise EvalError(f"unsupported argument(s) {sorted(unknown)}: no such variable")
        self.var = Namespace("var", resolve=self._variable)
        self.local = Namespace("local", resolve=self._local)
        self._evaluating: set[str] = set()

    def minimum_terraform_version(self) -> tuple[int, int]:
        for block in self.terraform:
            if "required_version" in block.attrs:
                constraint = Evaluator({}).eval(block.attrs["required_version"])
                m = re.search(r">=\s*(\d+)\.(\d+)", constraint)
                if m:
                    return int(m.group(1)), int(m.group(2))
        return (1, 0)

    def module_arguments(self, name: str) -> dict:
        """Arguments of a `module` block, each evaluated when first read (as Terraform's
        graph does per argument, so a child output that needs one argument does not
        wait for the others)."""
        body = self.module_calls[name]
        ev = self.evaluator()
        return LazyArguments({k: (lambda v=v: ev.eval(v)) for k, v in body.attrs.items()
                              if k not in ("source", "version", "providers", "depends_on", "count", "for_each")})

    # -- scope
    def evaluator(self, **extra) -> Evaluator:
        scope: dict = {
            "var": self.var,
            "local": self.local,
            "path": {"module": str(self.dir), "root": str(self.dir), "cwd": str(self.dir)},
            "terraform": {"workspace": "default"},
            "data": Namespace("data", resolve=lambda t: Namespace(f"data.{t}", resolve=lambda n: self._resource(f"data.{t}.{n}"))),
        }
        scope["module"] = Namespace("module", resolve=self._module_call)
        for address in self.resources:
            rtype = address.split(".")[0]
            if rtype != "data" and rtype not in scope:
                scope[rtype] = Namespace(rtype, resolve=lambda n, t=rtype: self._resource(f"{t}.{n}"))
        scope.update(extra)
        return Evaluator(scope, self.short_circuit, self.dir)

    def _variable(self, name):
        if name not in self.variables:
            raise EvalError(f"reference to undeclared variable {name}")
        body = self.variables[name]
        ev = self.evaluator()
        nullable = True
        if "nullable" in body.attrs:
            nullable = ev.eval(body.attrs["nullable"])
        has_default = "default" in body.attrs
        default = ev.eval(body.attrs["default"]) if has_default else None
        if name in self.inputs and not (self.inputs[name] is None and not nullable):
            value = self.inputs[name]
        elif has_default:
            value = default
        else:
            raise EvalError(f"no value for required variable {name}")
        if value is None and not nullable:
            raise EvalError(f"variable {name} must not be null")
        return convert(value, body.attrs.get("type"), f"var.{name}")

    def _module_call(self, name):
        """A child module's outputs: from `known`, or by evaluating a local (./, ../) module."""
        if f"module.{name}" in self.known:
            return self.known[f"module.{name}"]
        body = self.module_calls.get(name)
        if body is None:
            raise EvalError(f"reference to undeclared module {name}")
        source = Evaluator({}).eval(body.attrs["source"])
        if not source.startswith(("./", "../")) or "count" in body.attrs or "for_each" in body.attrs:
            return UNKNOWN
        child = Module(self.dir / source, self.module_arguments(name), {}, self.terraform_version)
        return Namespace(f"module.{name}", resolve=lambda output: child.output(output) if output in child.outputs else _missing_output(name, output))

    def child_module(self, name: str) -> "Module":
        body = self.module_calls[name]
        source = Evaluator({}).eval(body.attrs["source"])
        return Module(self.dir / source, self.module_arguments(name), {}, self.terraform_version)

    def _local(self, name):
        if name not in self.locals:
            raise EvalError(f"reference to undeclared local value {name}")
        if name in self._evaluating:
            raise EvalError(f"local.{name} refers to itself")
        self._evaluating.add(name)
        try:
            return self.evaluator().eval(self.locals[name])
        finally:
            self._evaluating.discard(name)

    def _resource(self, address):
        if address not in self.resources:
            raise EvalError(f"reference to undeclared resource {address}")
        return ResourceView(self, address, self.known.get(address))

    # -- checks
    def validation_errors(self) -> list[str]:
        """error_message of every failing validation block (Terraform stops plan on any)."""
        errors = []
        for name, body in self.variables.items():
            value = self.var[name]
            for _, validation in body.blocks_of("validation"):
                ev = self.evaluator(var=Namespace("var", {name: value}))
                try:
                    ok = ev.eval(validation.attrs["condition"])
                except EvalError as exc:
                    errors.append(f"var.{name}: validation could not be evaluated: {exc}")
                    continue
                if isinstance(ok, Unknown):
                    continue  # Terraform checks it once the value is known
                if not isinstance(ok, bool):
                    errors.append(f"var.{name}: validation condition is not bool")
                elif not ok:
                    errors.append(f"var.{name}: " + ev.eval(validation.attrs["error_message"]))
        return errors

    def precondition_errors(self) -> list[str]:
        errors = []
        for address, body in self.resources.items():
            lifecycle = body.block("lifecycle")
            if lifecycle is None:
                continue
            for _, pre in lifecycle.blocks_of("precondition"):
                for extra in self._instances(address):
                    ev = self.evaluator(**extra)
                    ok = ev.eval(pre.attrs["condition"])
                    if isinstance(ok, Unknown):
                        continue
                    if not ok:
                        errors.append(f"{address}: " + ev.eval(pre.attrs["error_message"]))
        return errors

    def _instances(self, address) -> list[dict]:
        body = self.resources[address]
        ev = self.evaluator()
        if "for_each" in body.attrs:
            return [{"each": {"key": k, "value": v}} for k, v in _iterate(ev.eval(body.attrs["for_each"]))]
        if "count" in body.attrs:
            return [{"count": {"index": i}} for i in range(int(ev.eval(body.attrs["count"])))]
        return [{}]

    def instance_keys(self, address) -> list:
        body = self.resources[address]
        ev = self.evaluator()
        if "for_each" in body.attrs:
            collection = ev.eval(body.attrs["for_each"])
            if isinstance(collection, Unknown) or (isinstance(collection, TfSet) and _has_unknown(collection)):
                raise EvalError(f"{address}: Invalid for_each argument: the keys depend on values known only after apply")
            if not isinstance(collection, (dict, TfSet)):
                raise EvalError(f"{address}: for_each needs a map or a set of strings, got {type(collection).__name__}")
            return [k for k, _ in _iterate(collection)]
        if "count" in body.attrs:
            count = ev.eval(body.attrs["count"])
            if isinstance(count, Unknown):
                raise EvalError(f"{address}: Invalid count argument: known only after apply")
            return list(range(int(count)))
        return [None]

    def resource_arguments(self, address, key=None) -> dict:
        """The arguments (attributes and nested/dynamic blocks) of one resource instance."""
        body = self.resources[address]
        extra = {}
        if "for_each" in body.attrs:
            collection = self.evaluator().eval(body.attrs["for_each"])
            extra = {"each": {"key": key, "value": dict(_iterate(collection))[key]}}
        elif "count" in body.attrs:
            extra = {"count": {"index": key}}
        return self.body_arguments(body, self.evaluator(**extra))

    def body_arguments(self, body: Body, ev: Evaluator) -> dict:
        out: dict = {}
        meta = {"for_each", "count", "depends_on", "provider", "lifecycle"}
        for name, expr in body.attrs.items():
            if name in meta:
                continue
            out[name] = ev.eval(expr)
        for kind, labels, block in body.blocks:
            if kind in ("lifecycle", "precondition", "postcondition"):
                continue
            if kind == "dynamic":
                (label,) = labels
                iterator = label
                if "iterator" in block.attrs:
                    iterator = str(_unwrap(block.attrs["iterator"]).children[0])
                content = block.block("content")
                for k, v in _iterate(ev.eval(block.attrs["for_each"])):
                    out.setdefault(label, []).append(self.body_arguments(content, ev.child(**{iterator: {"key": k, "value": v}})))
            else:
                out.setdefault(kind, []).append(self.body_arguments(block, ev))
        return out

    def depends_on(self, address) -> list[str]:
        expr = self.resources[address].attrs.get("depends_on")
        if expr is None:
            return []
        return [_reference_text(t) for t in _trees(_unwrap(expr))]

    def output(self, name):
        return self.evaluator().eval(self.outputs[name].attrs["value"])


def _missing_output(module: str, output: str):
    raise EvalError(f"module.{module} has no output {output}")


def _reference_text(node) -> str:
    node = _unwrap(node)
    if node.data == "identifier":
        return str(node.children[0])
    if node.data == "get_attr_expr_term":
        base, attr = _trees(node)
        return f"{_reference_text(base)}.{_label(_trees(attr)[0])}"
    raise EvalError(f"depends_on entries must be references, got {node.data}")


class LazyArguments(dict):
    """name -> value, computed on first access."""

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if callable(value):
            value = value()
            self[key] = value
        return value

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def values(self):
        return [self[k] for k in self.keys()]


class ResourceView(dict):
    """A resource referred to by an expression: provider-computed values from `known`,
    else its arguments as evaluated, else unknown (known after apply); count/for_each
    instances by key."""

    def __init__(self, module: Module, address: str, known=None, key=None, instance=False):
        super().__init__()
        self.module, self.address, self.known, self.key = module, address, known, key
        body = module.resources[address]
        self.multi = ("for_each" in body.attrs or "count" in body.attrs) and not instance

    def __missing__(self, key):
        if self.multi:
            known = None
            if isinstance(self.known, dict):
                known = self.known.get(key, self.known.get(str(key)))
            if "count" in self.module.resources[self.address].attrs:
                key = int(key)
            return ResourceView(self.module, self.address, known, key, instance=True)
        if self.known and key in self.known:
            return self.known[key]
        args = self.module.resource_arguments(self.address, self.key)
        # Not an argument: an attribute the provider computes (arn, id, ...),
        # unknown at plan time unless the caller passed it in `known`.
        return args.get(key, UNKNOWN)

    def __contains__(self, key):
        return True


def module_call_arguments(root_tf: Path, name: str | None = None) -> dict:
    """Arguments of a module block in a root configuration (an example), evaluated (literals only)."""
    calls = {labels[0]: body for kind, labels, body in parse_file(root_tf).blocks if kind == "module"}
    body = calls[name] if name else next(iter(calls.values()))
    ev = Evaluator({})
    out = {}
    for k, v in body.attrs.items():
        if k in ("source", "version", "providers", "depends_on"):
            continue
        try:
            out[k] = ev.eval(v)
        except EvalError:  # a reference to the example's own data sources or resources
            continue
    return out


def load_tfvars(path: Path) -> dict:
    """A .tfvars file's values (literals)."""
    ev = Evaluator({})
    return {k: ev.eval(v) for k, v in parse_file(path).attrs.items()}
