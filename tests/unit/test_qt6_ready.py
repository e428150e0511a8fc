"""The plugin stays ready for QGIS 4 (Qt6): Qt only through qgis.PyQt, enums fully scoped (PyQt6
has no unscoped enum members), none of the enums QGIS moved into ``Qgis`` under their old names
(deprecated aliases in 3.40, gone in QGIS 4), and metadata.txt claims no more than
docs/COMPATIBILITY.md shows was tested. Plain source checks: no QGIS needed."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import io
import re
import tokenize
from pathlib import Path

import pytest

from tests.conftest import ROOT

PLUGIN = ROOT / "s2o_qgis_plugin"
QT_BINDINGS = ("PyQt5", "PyQt6", "PySide2", "PySide6", "sip")
# A line of s2o_qgis_plugin/qgis_enums.py that only runs on an older QGIS says so at its end.
OLD_QGIS_ONLY = re.compile(r"#\s*QGIS < 3\.\d+\s*$")
QT_OWNER = re.compile(r"^(Qt|Qgis|Q[A-Z]\w*|Qgs\w+)$")
MEMBER = re.compile(r"^[A-Z][a-z0-9]\w*$")  # CamelCase: an enum member (ALL_CAPS: a constant)
# Enums QGIS moved into Qgis (3.30: QgsMapLayerType; 3.36: Processing), by their old names:
# deprecated aliases in 3.40. A running QGIS >= 3.36 adds every alias it defines (moved_aliases).
MOVED = {
    "QgsMapLayerType": None,
    "QgsProcessingParameterNumber": {"Integer", "Double", "Type"},
    "QgsProcessingParameterDefinition": {"FlagAdvanced", "FlagHidden", "FlagOptional",
                                         "FlagIsModelOutput", "Flag", "Flags"},
    "QgsProcessingAlgorithm": {"FlagNoThreading", "FlagCanCancel", "FlagHideFromToolbox",
                               "FlagHideFromModeler", "FlagRequiresMatchingCrs", "Flag"},
    "QgsProcessing": {"TypeRaster", "TypeVector", "TypeFile", "TypeMapLayer", "SourceType"},
}


def plugin_sources() -> list[Path]:
    return sorted(p for p in PLUGIN.rglob("*.py") if "_deps" not in p.parts)


def code_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, the line's name and operator tokens), comments and strings left out."""
    lines: dict[int, list[str]] = {}
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type in (tokenize.NAME, tokenize.OP):
            lines.setdefault(tok.start[0], []).append(tok.string)
    return sorted(lines.items())


def attribute_uses(path: Path):
    """(line number, owner, member, the token after) for every ``Owner.Member`` in ``path``."""
    text = path.read_text().splitlines()
    for number, toks in code_lines(path):
        if OLD_QGIS_ONLY.search(text[number - 1]):
            continue
        for i in range(len(toks) - 2):
            if toks[i + 1] == "." and (i == 0 or toks[i - 1] != "."):
                after = toks[i + 3] if i + 3 < len(toks) else ""
                yield number, toks[i], toks[i + 2], after


def moved_aliases() -> dict[str, set[str] | None]:
    """MOVED, plus the aliases the QGIS on this machine defines (``QgsX.Member = Qgis.Y.Z`` in
    qgis/core/__init__.py, QGIS >= 3.36), read without importing QGIS."""
    found = {k: (None if v is None else set(v)) for k, v in MOVED.items()}
    spec = importlib.util.find_spec("qgis")
    init = Path(spec.submodule_search_locations[0]) / "core" / "__init__.py" if spec else None
    if init is not None and init.is_file():
        for owner, member in re.findall(r"^(Qgs\w+)\.(\w+) = Qgis\.\w+", init.read_text(), re.M):
            if found.get(owner, set()) is not None:
                found.setdefault(owner, set()).add(member)
    return found


def test_qt_only_through_qgis_pyqt():
    found = []
    for path in plugin_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names
                      if n.split(".")[0] in QT_BINDINGS]
    assert found == []


def test_enums_are_fully_scoped():
    """``Qgis.Warning``, ``Qt.AlignLeft``, ``QgsProcessingParameterNumber.Integer``: an enum
    member read off its class; PyQt6 wants ``Qgis.MessageLevel.Warning`` and the like."""
    found = [f"{path.relative_to(ROOT)}:{n}: {owner}.{member}"
             for path in plugin_sources()
             for n, owner, member, after in attribute_uses(path)
             if QT_OWNER.match(owner) and MEMBER.match(member) and after not in (".", "(")]
    assert found == []


def names_used(path: Path):
    """(line number, name) for every name in ``path``'s code, lines for older QGIS left out."""
    text = path.read_text().splitlines()
    for number, toks in code_lines(path):
        if not OLD_QGIS_ONLY.search(text[number - 1]):
            yield from ((number, t) for t in toks)


def deprecated_uses(path: Path, moved) -> list[str]:
    found = [f"{owner}.{member}" for _, owner, member, _ in attribute_uses(path)
             if moved.get(owner) and member in moved[owner]]
    found += [name for _, name in names_used(path) if name in moved and moved[name] is None]
    return found


def test_no_enum_by_the_name_qgis_deprecated():
    moved = moved_aliases()
    found = {str(path.relative_to(ROOT)): deprecated_uses(path, moved)
             for path in plugin_sources()}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_checks_find_what_they_look_for(tmp_path):
    """The source checks above on a file with one of each fault."""
    bad = tmp_path / "bad.py"
    bad.write_text("from PyQt5.QtCore import Qt\nfrom qgis.core import Qgis, QgsMapLayerType\n"
                   "x = (Qgis.Warning, Qt.AlignLeft, Qgis.MessageLevel.Info, Qgis.QGIS_VERSION)\n"
                   "y = QgsMapLayerType.RasterLayer  # QGIS < 3.30\n"
                   "z = QgsProcessingParameterNumber.Type.Integer\n")
    uses = [(o, m, a) for _, o, m, a in attribute_uses(bad)]
    unscoped = [f"{o}.{m}" for o, m, a in uses
                if QT_OWNER.match(o) and MEMBER.match(m) and a not in (".", "(")]
    assert unscoped == ["Qgis.Warning", "Qt.AlignLeft"]
    assert deprecated_uses(bad, moved_aliases()) == [
        "QgsProcessingParameterNumber.Type", "QgsMapLayerType"]  # the import; not line 4


def qgis_versions_tested() -> list[tuple[int, int]]:
    text = (ROOT / "docs" / "COMPATIBILITY.md").read_text()
    return sorted({(int(a), int(b)) for a, b in re.findall(r"^\| [^|]+ \| (\d+)\.(\d+)\.\d+ \|",
                                                          text, re.M)})


@pytest.fixture(scope="module")
def meta():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "metadata.txt", encoding="utf-8")
    return parser["general"]


def test_metadata_claims_what_was_tested(meta):
    """qgisMinimumVersion is the oldest QGIS in docs/COMPATIBILITY.md, qgisMaximumVersion
    covers the newest and stays in its major version, and supportsQt6 is set only when a Qt 6
    build of QGIS was run there."""
    tested = qgis_versions_tested()
    assert len(tested) >= 2
    assert meta["qgisMinimumVersion"] == "{}.{}".format(*tested[0])
    top = tuple(int(x) for x in meta["qgisMaximumVersion"].split("."))
    assert top >= tested[-1] and top[0] == tested[-1][0]
    qt6_tested = re.search(r"\bQt 6\.", (ROOT / "docs" / "COMPATIBILITY.md").read_text())
    claims_qt6 = meta.get("supportsQt6", "no").strip().lower() in ("yes", "true")
    assert claims_qt6 == bool(qt6_tested)
