"""``labelmap.pbtxt``: the TF Object Detection API's class list (``item { name: "kangaroo" id: 1 }``).

Ids start at 1 (0 is background in the TF OD API); huia's ``class_ids`` are 0-based indexes into ``class_names``,
so ``id = class_id + 1``.
"""

from __future__ import annotations

import re
from pathlib import Path

from huia.errors import HuiaError

LABELMAP_NAME = "labelmap.pbtxt"

_ITEM = re.compile(r"item\s*\{(.*?)\}", re.S)
_FIELD = re.compile(r"""(\w+)\s*:\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(-?\d+))""")


def format_labelmap(class_names: list[str]) -> str:
    out = []
    for i, name in enumerate(class_names, start=1):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'item {{\n  name: "{escaped}"\n  id: {i}\n}}\n')
    return "".join(out)


def write_labelmap(path: str | Path, class_names: list[str]) -> Path:
    """Write ``class_names`` (in order, ids 1..K). ``path`` may be a folder (then ``labelmap.pbtxt`` inside)."""
    p = Path(path)
    if p.is_dir():
        p = p / LABELMAP_NAME
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(format_labelmap(list(class_names)), encoding="utf-8")
    return p


def parse_labelmap(text: str, source: str | Path = "<labelmap>") -> list[str]:
    """Class names ordered by id. Ids must be 1..K without gaps or repeats (a gap would shift every class)."""
    items = {}
    for m in _ITEM.finditer(text):
        fields = {}
        for f in _FIELD.finditer(m.group(1)):
            key, dq, sq, num = f.groups()
            fields[key] = int(num) if num is not None else (dq if dq is not None else sq).replace('\\"', '"')
        name = fields.get("name", fields.get("display_name"))
        if not isinstance(name, str) or not isinstance(fields.get("id"), int):
            raise HuiaError(f"labelmap item without a name and an integer id: {m.group(0)!r}", source)
        if fields["id"] in items:
            raise HuiaError(f"labelmap id {fields['id']} appears twice", source)
        items[fields["id"]] = name
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
    return parse_labelmap(p.read_text(encoding="utf-8"), p)


def find_labelmap(folder: str | Path) -> list[str] | None:
    """The class list of a dataset folder if it has a ``labelmap.pbtxt``, else None."""
    p = Path(folder) / LABELMAP_NAME
    return read_labelmap(p) if p.is_file() else None
