"""``labelmap.pbtxt``: the TF Object Detection API's class list (``item { name: "kangaroo" id: 1 }``).

Ids start at 1 (0 is background in the TF OD API); huia's ``class_ids`` are 0-based indexes into ``class_names``,
so ``id = class_id + 1``.
"""

from __future__ import annotations

import re
from pathlib import Path

from huia.errors import HuiaError

LABELMAP_NAME = "labelmap.pbtxt"

_TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)[fF]?)
  | (?P<ident>[A-Za-z_][\w.]*)
  | (?P<punct>[{}<>:;,\[\]])
""", re.X)
_SIMPLE_ESCAPES = {"a": b"\a", "b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v",
                   "\\": b"\\", "'": b"'", '"': b'"', "?": b"?"}
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.S)


def format_labelmap(class_names: list[str]) -> str:
    """Names are written as UTF-8 between double quotes; ``\\``, ``"`` and line breaks are escaped."""
    out = []
    for i, name in enumerate(class_names, start=1):
        escaped = (name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r"))
        out.append(f'item {{\n  name: "{escaped}"\n  id: {i}\n}}\n')
    return "".join(out)


def _unescape(body: str, line: int, source) -> str:
    """A quoted string's contents -> text, with protobuf's escapes (octal/hex escapes are bytes of UTF-8, as
    protobuf's own writer escapes non-ASCII names)."""
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(body):
        out += body[pos:m.start()].encode("utf-8")
        octal, hexa, u4, u8, ch = m.groups()
        if octal or hexa:
            out.append(int(octal, 8) & 0xFF if octal else int(hexa, 16))
        elif u4 or u8:
            out += chr(int(u4 or u8, 16)).encode("utf-8", "surrogatepass")
        elif ch in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[ch]
        else:
            raise HuiaError(f"line {line}: unknown escape \\{ch} in a string", source)
        pos = m.end()
    out += body[pos:].encode("utf-8")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HuiaError(f"line {line}: escaped bytes in a string are not UTF-8 ({exc.reason})", source) from None


def _tokens(text: str, source) -> list[tuple[str, object, int]]:
    """``[(kind, value, line)]``: kinds ``string`` (unescaped; adjacent strings joined), ``number``, ``ident``,
    and the punctuation itself."""
    toks: list[tuple[str, object, int]] = []
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            bad = text[pos]
            what = "unterminated string" if bad in "\"'" else f"unexpected character {bad!r}"
            raise HuiaError(f"line {line}: {what}", source)
        kind, raw = m.lastgroup, m.group()
        if kind == "string":
            value = _unescape(raw[1:-1], line, source)
            if toks and toks[-1][0] == "string":
                toks[-1] = ("string", toks[-1][1] + value, toks[-1][2])
            else:
                toks.append(("string", value, line))
        elif kind == "number":
            num = raw.rstrip("fF")
            toks.append(("number", int(num) if re.fullmatch(r"[-+]?\d+", num) else float(num), line))
        elif kind == "ident":
            toks.append(("ident", raw, line))
        elif kind == "punct":
            toks.append((raw, raw, line))
        line += raw.count("\n")
        pos = m.end()
    return toks


def _parse_message(toks, i: int, close: str | None, source) -> tuple[list[tuple[str, object, int]], int]:
    """Fields of one message from token ``i`` up to ``close`` (``}`` / ``>``; None = end of text) ->
    ``([(key, value, line)], next index)``; a nested message's value is its own field list."""
    fields = []
    while True:
        if i >= len(toks):
            if close is None:
                return fields, i
            raise HuiaError(f"missing {close!r} at the end of the labelmap", source)
        kind, key, line = toks[i]
        if kind == close:
            return fields, i + 1
        if kind != "ident":
            raise HuiaError(f"line {line}: expected a field name, found {key!r}", source)
        i += 1
        colon = i < len(toks) and toks[i][0] == ":"
        if colon:
            i += 1
        if i >= len(toks):
            raise HuiaError(f"line {line}: field {key!r} has no value", source)
        kind, value, vline = toks[i]
        if kind in ("{", "<"):
            value, i = _parse_message(toks, i + 1, "}" if kind == "{" else ">", source)
        elif colon and kind in ("string", "number", "ident"):
            i += 1
        elif colon and kind == "[":  # a list of values (``keypoint_edges: [...]``): read past it
            j = i + 1
            while j < len(toks) and toks[j][0] != "]":
                j += 1
            if j >= len(toks):
                raise HuiaError(f"line {vline}: missing ']' after field {key!r}", source)
            value, i = [t[1] for t in toks[i + 1:j] if t[0] != ","], j + 1
        else:
            raise HuiaError(f"line {vline}: field {key!r} needs ': value' or '{{ ... }}', found {value!r}", source)
        fields.append((key, value, line))
        while i < len(toks) and toks[i][0] in (";", ","):
            i += 1


def write_labelmap(path: str | Path, class_names: list[str]) -> Path:
    """Write ``class_names`` (in order, ids 1..K). ``path`` may be a folder (then ``labelmap.pbtxt`` inside)."""
    p = Path(path)
    if p.is_dir():
        p = p / LABELMAP_NAME
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(format_labelmap(list(class_names)), encoding="utf-8")
    return p


def parse_labelmap(text: str, source: str | Path = "<labelmap>") -> list[str]:
    """Class names ordered by id. Ids must be 1..K without gaps or repeats (a gap would shift every class).
    Read with a tokenizer of protobuf's text format, so quotes, backslashes and braces inside a name, comments,
    and fields huia does not use (``keypoints { ... }``, ``frequency: FREQUENT``) are all read as protobuf does."""
    top, _ = _parse_message(_tokens(text, source), 0, None, source)
    items = {}
    for key, value, line in top:
        if key != "item":
            continue
        if not isinstance(value, list):
            raise HuiaError(f"line {line}: 'item' must be a message {{ ... }}", source)
        fields = {k: v for k, v, _ in value}
        name = fields.get("name", fields.get("display_name"))
        ident = fields.get("id")
        if not isinstance(name, str) or not isinstance(ident, int):
            raise HuiaError(f"line {line}: labelmap item without a name and an integer id", source)
        if ident in items:
            raise HuiaError(f"labelmap id {ident} appears twice", source)
        items[ident] = name
    if not items:
        raise HuiaError("labelmap has no items", source)
    ids = sorted(items)
    if ids != list(range(1, len(ids) + 1)):
        raise HuiaError(f"labelmap ids must be 1..{len(ids)} without gaps, got {ids}", source)
    names = [items[i] for i in ids]
    if len(set(names)) != len(names):
        raise HuiaError("labelmap has a repeated class name", source)
    return names


def read_labelmap(path: str | Path) -> list[str]:
    p = Path(path)
    if p.is_dir():
        p = p / LABELMAP_NAME
    if not p.is_file():
        raise HuiaError("labelmap not found", p)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HuiaError(f"labelmap is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
                        p) from None
    except OSError as exc:
        raise HuiaError(f"cannot read labelmap: {exc.strerror or exc}", p) from None
    return parse_labelmap(text, p)


def find_labelmap(folder: str | Path) -> list[str] | None:
    """The class list of a dataset folder if it has a ``labelmap.pbtxt``, else None."""
    p = Path(folder) / LABELMAP_NAME
    return read_labelmap(p) if p.is_file() else None
