"""Terraform's built-in functions, as far as a plan can know their results offline.

Only what references and model answers commonly use; a function of the clock or of randomness
(`timestamp`, `uuid`) returns UNKNOWN, like a value known only after apply, and an unlisted function
does too rather than failing the whole expression. Functions that read files (`file`, `filebase64sha256`,
`templatefile`) are evaluated by Terraform while planning, so their results are known in any plan that
succeeds: they return a stand-in for the file's content (see `_file_contents`).
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import math
import re
import uuid
from typing import Any, Callable

import re2

from iacdemo.terraform.values import (MAX_COLLECTION_ITEMS, MAX_NUMBER_BITS, MAX_STRING_CHARS, UNKNOWN, EvalError,
                                      LimitError, check_budget, check_size, contains_unknown, to_string)


def terraform_json(value: Any) -> str:
    """`jsonencode` exactly as Terraform prints it: compact, keys sorted, `<>&` escaped like Go."""
    _bounded_walk(value)
    text = json.dumps(_json_ready(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    return value


def _bounded_walk(value: Any, limit: int = MAX_COLLECTION_ITEMS * 10) -> None:
    """Walk a value as it would be expanded (shared sub-lists count each time they appear), so one
    C-level call on it (`json.dumps`) cannot build something huge out of a few references."""
    seen = 0
    stack = [value]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limit:
            raise LimitError(f"a value of more than {limit:,} elements is larger than the emulator's limit")
        if seen % 256 == 0:
            check_budget()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, str) and len(item) > MAX_STRING_CHARS:
            check_size(item)


def _flatten(value):
    out: list = []
    stack = [iter(value)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
            if len(out) > MAX_COLLECTION_ITEMS:
                check_size(out)
        else:
            stack.pop()
    return out


def _concat(*lists):
    if sum(len(lst) for lst in lists if isinstance(lst, (list, dict, str))) > MAX_COLLECTION_ITEMS:
        raise LimitError(f"concat: more than {MAX_COLLECTION_ITEMS:,} elements")
    return [v for lst in lists for v in lst]


def _distinct(values):
    """First occurrences, in order (keys as JSON, so the cost is linear rather than quadratic)."""
    seen: dict[str, Any] = {}
    for v in values:
        seen.setdefault(_key(v), v)
    return list(seen.values())


def _key(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _setintersection(first, *rest):
    keys = [{_key(v) for v in s} for s in rest]
    return [v for v in first if all(_key(v) in k for k in keys)]


def _setsubtract(a, b):
    drop = {_key(v) for v in b}
    return [v for v in a if _key(v) not in drop]


def _pow(a, b):
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        if b * max(1, abs(a).bit_length() - 1) > MAX_NUMBER_BITS:
            raise LimitError("pow: the result is beyond about 1e308, out of the emulator's range")
    try:
        return a ** b
    except OverflowError:
        raise LimitError("pow: the result is out of the emulator's range") from None


def _indent(n, text):
    n = int(n)
    if not 0 <= n <= 1024:
        raise EvalError(f"indent: {n} spaces is out of range")
    return text.replace("\n", "\n" + " " * n)


def _merge(*maps):
    out: dict = {}
    for m in maps:
        if m is None:
            continue
        if not isinstance(m, dict):
            raise EvalError("merge takes maps or objects")
        out.update(m)
    return out


def _lookup(mapping, key, *default):
    if not isinstance(mapping, dict):
        raise EvalError("lookup takes a map")
    if key in mapping:
        return mapping[key]
    if default:
        return default[0]
    raise EvalError(f"lookup: no key {key!r}")


def _element(items, index):
    if not items:
        raise EvalError("element of an empty list")
    return items[int(index) % len(items)]


def _cidrsubnet(prefix, newbits, netnum):
    network = ipaddress.ip_network(prefix, strict=False)
    new_prefix = network.prefixlen + int(newbits)
    if new_prefix > network.max_prefixlen:
        raise EvalError("cidrsubnet: not enough address space")
    size = 2 ** (network.max_prefixlen - new_prefix)
    address = int(network.network_address) + int(netnum) * size
    subnet = ipaddress.ip_network((address, new_prefix))
    if not subnet.subnet_of(network):
        raise EvalError("cidrsubnet: netnum out of range")
    return str(subnet)


def _cidrhost(prefix, hostnum):
    network = ipaddress.ip_network(prefix, strict=False)
    hostnum = int(hostnum)
    base = network.broadcast_address + 1 if hostnum < 0 else network.network_address
    return str(ipaddress.ip_address(int(base) + hostnum))


def _cidrsubnets(prefix, *newbits):
    network = ipaddress.ip_network(prefix, strict=False)
    out, current = [], int(network.network_address)
    for bits in newbits:
        new_prefix = network.prefixlen + int(bits)
        size = 2 ** (network.max_prefixlen - new_prefix)
        current = -(-current // size) * size
        out.append(str(ipaddress.ip_network((current, new_prefix))))
        current += size
    return out


def _format(spec, *args):
    out, i, arg = [], 0, 0
    while i < len(spec):
        ch = spec[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        if spec[i + 1:i + 2] == "%":
            out.append("%")
            i += 2
            continue
        j = i + 1
        while j < len(spec) and spec[j] in "0123456789.-+# ":
            j += 1
        verb = spec[j:j + 1]
        flags = spec[i + 1:j]
        if arg >= len(args):
            raise EvalError("format: not enough arguments")
        value = args[arg]
        arg += 1
        if verb in ("s", "v"):
            text = to_string(value) if not isinstance(value, (list, dict)) else terraform_json(value)
        elif verb == "d":
            text = str(int(value))
        elif verb == "q":
            text = json.dumps(to_string(value))
        elif verb in ("f", "e", "g"):
            text = ("%" + flags + verb) % float(value)
            flags = ""
        elif verb == "t":
            text = to_string(value)
        else:
            raise EvalError(f"format: unsupported verb %{verb}")
        if flags and flags.lstrip("-").isdigit():
            width = min(int(flags.lstrip("-")), 4096)
            text = text.ljust(width) if flags.startswith("-") else text.rjust(width, "0" if flags.startswith("0") else " ")
        out.append(text)
        i = j + 1
    return "".join(out)


def _substr(text, offset, length):
    offset, length = int(offset), int(length)
    if offset < 0:
        offset += len(text)
    return text[offset:] if length < 0 else text[offset:offset + length]


def _one(items):
    if not items:
        return None
    if len(items) > 1:
        raise EvalError("one: more than one element")
    return items[0]


def _coalesce(*values):
    for value in values:
        if value is not None and value != "":
            return value
    raise EvalError("coalesce: no non-null argument")


def _sha(algorithm):
    return lambda text: hashlib.new(algorithm, to_string(text).encode()).hexdigest()


def _base64_sha(algorithm):
    return lambda text: base64.b64encode(hashlib.new(algorithm, to_string(text).encode()).digest()).decode()


def _file_contents(path) -> str:
    """A stand-in for the text of the file at `path`.

    Terraform reads files while planning (a missing file fails the plan), so in a plan that succeeds
    `file(...)` and everything computed from it is a known value, present in `planned_values`. The
    static harness deems such a program plannable without the file, so the content itself cannot be
    known here: a stand-in named after the path keeps the value present (as it would be in the real
    plan) and deterministic, while no policy can mistake it for real content.
    """
    if not isinstance(path, str):
        raise EvalError("a file path must be a string")
    return f"(contents of file {path})"


def _from_file(transform):
    return lambda path: transform(_file_contents(path))


def _templatefile(path, variables=None):
    if not isinstance(variables, (dict, type(None))):
        raise EvalError("templatefile takes a map of variables")
    return f"(template {path} rendered)" if isinstance(path, str) else _file_contents(path)


_UUID_NAMESPACES = {"dns": uuid.NAMESPACE_DNS, "url": uuid.NAMESPACE_URL, "oid": uuid.NAMESPACE_OID,
                    "x500": uuid.NAMESPACE_X500}


def _uuidv5(namespace, name):
    space = _UUID_NAMESPACES.get(namespace) if isinstance(namespace, str) else None
    return str(uuid.uuid5(space or uuid.UUID(str(namespace)), to_string(name)))


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is an EvalError with its reason, not a line on stderr
_GO_TEMPLATE = re.compile(r"\$(?:\$|(\w+)|\{(\w+)\})")


def _compile(pattern) -> "re2._Regexp":
    """Terraform's regexes are Go's RE2: linear time, no backreferences. Python's `re` would let an
    answer like `regex("(a+)+$", "aaa…!")` run for hours."""
    if not isinstance(pattern, str):
        raise EvalError("a regular expression must be a string")
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise EvalError(f"invalid regular expression {pattern[:80]!r}: {reason}") from None


def _go_expand(template: str, match) -> str:
    """Go's `Regexp.Expand`: `$1`, `${1}`, `$name`, `${name}`; `$$` is a dollar sign."""
    def group(m) -> str:
        name = m.group(1) or m.group(2)
        if name is None:
            return "$"
        try:
            value = match.group(int(name) if name.isdigit() else name)
        except (IndexError, KeyError, re2.error):
            return ""
        return value or ""
    return _GO_TEMPLATE.sub(group, template)


def _replace(text, old, new):
    """`replace`: a plain substring, or a regular expression when written as `/.../`."""
    if len(old) > 1 and old.startswith("/") and old.endswith("/"):
        result = _compile(old[1:-1]).sub(lambda m: _go_expand(new, m), text)
    else:
        if old == "":
            raise EvalError("replace: the substring to replace is empty")
        if len(new) > len(old) and len(text) // len(old) * (len(new) - len(old)) > MAX_STRING_CHARS:
            raise LimitError(f"replace: the result would be longer than {MAX_STRING_CHARS:,} characters")
        result = text.replace(old, new)
    return check_size(result)


def _regex(pattern, text):
    match = _compile(pattern).search(text)
    if not match:
        raise EvalError("regex: no match")
    if match.groupdict():
        return match.groupdict()
    if match.groups():
        return list(match.groups())
    return match.group(0)


MAX_RANGE = 1024  # Terraform's own limit on `range`


def _range(*args):
    values = range(*[int(a) for a in args])
    if len(values) > MAX_RANGE:
        raise EvalError(f"range: more than {MAX_RANGE} elements")
    return list(values)


def _number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EvalError(f"tonumber: {value!r} is not a number") from None
    return int(number) if number.is_integer() else number


def _toset(values):
    """Sets print sorted and without duplicates (strings in lexical order, as cty does)."""
    unique = {json.dumps(v, sort_keys=True): v for v in values}
    return [unique[k] for k in sorted(unique)]


def _tobool(value):
    if isinstance(value, bool) or value is None:
        return value
    if value in ("true", "false"):
        return value == "true"
    raise EvalError(f"tobool: {value!r}")


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "jsonencode": terraform_json,
    "jsondecode": lambda text: json.loads(text),
    "format": _format,
    "formatlist": lambda spec, *lists: [_format(spec, *row) for row in zip(*lists)],
    "join": lambda sep, *lists: sep.join(to_string(v) for v in _flatten(list(lists))),
    "split": lambda sep, text: text.split(sep),
    "concat": _concat,
    "merge": _merge,
    "lookup": _lookup,
    "element": _element,
    "length": lambda value: len(value),
    "lower": lambda text: text.lower(),
    "upper": lambda text: text.upper(),
    "title": lambda text: text.title(),
    "replace": _replace,
    "trimspace": lambda text: text.strip(),
    "trim": lambda text, chars: text.strip(chars),
    "trimprefix": lambda text, prefix: text.removeprefix(prefix),
    "trimsuffix": lambda text, suffix: text.removesuffix(suffix),
    "substr": _substr,
    "strrev": lambda text: text[::-1],
    "startswith": lambda text, prefix: text.startswith(prefix),
    "endswith": lambda text, suffix: text.endswith(suffix),
    "chomp": lambda text: text.rstrip("\r\n"),
    "indent": _indent,
    "tolist": lambda value: list(value),
    "toset": lambda value: _toset(value),
    "tomap": lambda value: dict(value),
    "tostring": lambda value: None if value is None else to_string(value),
    "tonumber": _number,
    "tobool": _tobool,
    "keys": lambda mapping: sorted(mapping.keys()),
    "values": lambda mapping: [mapping[k] for k in sorted(mapping.keys())],
    "flatten": lambda value: _flatten(value),
    "distinct": _distinct,
    "contains": lambda items, value: value in items,
    "index": lambda items, value: items.index(value),
    "coalesce": _coalesce,
    "coalescelist": lambda *lists: next((lst for lst in lists if lst), []),
    "compact": lambda items: [v for v in items if v not in (None, "")],
    "slice": lambda items, start, end: items[int(start):int(end)],
    "reverse": lambda items: list(reversed(items)),
    "sort": lambda items: sorted(to_string(v) for v in items),
    "sum": lambda items: sum(items),
    "min": lambda *n: min(n),
    "max": lambda *n: max(n),
    "abs": lambda n: abs(n),
    "ceil": lambda n: math.ceil(n),
    "floor": lambda n: math.floor(n),
    "pow": _pow,
    "signum": lambda n: (n > 0) - (n < 0),
    "parseint": lambda text, base: int(text, int(base)),
    "range": _range,
    "zipmap": lambda keys, values: dict(zip(keys, values)),
    "one": _one,
    "alltrue": lambda items: all(_tobool(v) for v in items),
    "anytrue": lambda items: any(_tobool(v) for v in items),
    "setunion": lambda *sets: list(dict.fromkeys(v for s in sets for v in s)),
    "setintersection": _setintersection,
    "setsubtract": _setsubtract,
    "cidrsubnet": _cidrsubnet,
    "cidrsubnets": _cidrsubnets,
    "cidrhost": _cidrhost,
    "cidrnetmask": lambda prefix: str(ipaddress.ip_network(prefix, strict=False).netmask),
    "base64encode": lambda text: base64.b64encode(to_string(text).encode()).decode(),
    "base64decode": lambda text: base64.b64decode(text).decode(),
    "md5": _sha("md5"),
    "sha1": _sha("sha1"),
    "sha256": _sha("sha256"),
    "sha512": _sha("sha512"),
    "regex": _regex,
    "base64sha256": _base64_sha("sha256"),
    "base64sha512": _base64_sha("sha512"),
    "uuidv5": _uuidv5,
    "file": _from_file(lambda text: text),
    "filebase64": _from_file(lambda text: base64.b64encode(text.encode()).decode()),
    "filemd5": _from_file(_sha("md5")),
    "filesha1": _from_file(_sha("sha1")),
    "filesha256": _from_file(_sha("sha256")),
    "filesha512": _from_file(_sha("sha512")),
    "filebase64sha256": _from_file(_base64_sha("sha256")),
    "filebase64sha512": _from_file(_base64_sha("sha512")),
    "templatefile": _templatefile,
}

# Functions whose result depends on the machine, the clock or randomness (`timestamp`, `uuid` and
# `bcrypt` are unknown in a real plan too; whether a file exists depends on the machine), or that are
# not emulated: unknown at plan time here.
_UNKNOWABLE = {"fileexists", "fileset", "timestamp", "uuid", "bcrypt", "plantimestamp",
               "pathexpand", "abspath", "yamlencode", "yamldecode", "timeadd", "formatdate",
               "textencodebase64", "textdecodebase64", "base64gzip"}


# Functions that keep the known structure around unknown elements: `concat([a], [unknown])` is still a
# two-element list. Every other function of an unknown argument is unknown.
_STRUCTURAL = frozenset({"concat", "merge", "tolist", "flatten", "element", "lookup"})


def call_function(name: str, args: list) -> Any:
    """Terraform's function `name` on evaluated arguments (`try`/`can` are handled by the evaluator)."""
    if name in _UNKNOWABLE:
        return UNKNOWN
    function = _FUNCTIONS.get(name)
    if function is None:
        return UNKNOWN
    if any(contains_unknown(a) for a in args):
        if name == "length" and args and isinstance(args[0], list):
            return len(args[0])
        if name not in _STRUCTURAL or any(a is UNKNOWN for a in args):
            return UNKNOWN
    try:
        result = check_size(function(*args))
    except EvalError:
        raise
    except Exception as exc:  # Terraform reports a bad call as an error; so do we, with its reason
        raise EvalError(f"{name}(): {exc}") from None
    if isinstance(result, float) and result.is_integer():
        return int(result)
    return result


__all__ = ["call_function", "terraform_json"]
