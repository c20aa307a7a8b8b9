"""The compiled WS API code reads no private attribute of a foreign object: what it needs is in
typed fields of cdef classes declared in .pxd files (Session, LinkState, ClockState...) or in
public attributes, so a rename is a compile error or a mypy error, never a run-time surprise."""
from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

API = Path(__file__).resolve().parent.parent / "fastws" / "api"
PYX = sorted(API.glob("*.pyx"))
_READ = re.compile(r"(\(<\w+>\w+\)|\w+)\._([a-z]\w*)")
_IMPORT = re.compile(r"^\s*(?:from|import|cimport)\s.*$", re.M)


def _code_only(path: Path) -> str:
    """The source with comments and string literals (docstrings included) blanked out."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    chars = list(text)
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in (tokenize.COMMENT, tokenize.STRING):
            a = starts[tok.start[0] - 1] + tok.start[1]
            b = starts[tok.end[0] - 1] + tok.end[1]
            for i in range(a, b):
                if chars[i] != "\n":
                    chars[i] = " "
    return _IMPORT.sub("", "".join(chars))          # module paths (fastws.api._x) are not reads


def _declared_private() -> set[str]:
    """Private C methods of the package's cdef classes, declared in its .pxd files (called on
    a typed object: a rename breaks the build). Private fields are never allowed."""
    names: set[str] = set()
    for pxd in API.glob("*.pxd"):
        names |= set(re.findall(r"^\s+c(?:p)?def\s+[^#(]*?\b(_\w+)\s*\(", pxd.read_text(), re.M))
    return names


@pytest.mark.parametrize("pyx", PYX, ids=lambda p: p.stem)
def test_no_private_attribute_of_a_foreign_object(pyx: Path):
    allowed = _declared_private()
    bad = []
    for owner, name in _READ.findall(_code_only(pyx)):
        if owner in ("self", "cls") or owner.startswith("_") or "_" + name in allowed:
            continue
        bad.append(f"{owner}._{name}")
    assert not bad, f"{pyx.name} reads private attributes of other objects: {sorted(set(bad))}"
