"""Write docs/algorithms.md from the algorithms themselves: their help paragraphs, parameters and
outputs, as the dialogs show them. It is the page the dialogs' Help buttons open (helpUrl), so
the words live once, in the algorithm files; tests/qgis/test_algorithm_docs.py checks that the
page is current.

    python scripts/algorithm_docs.py            # rewrite docs/algorithms.md
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "algorithms.md"
HEADER = """# The s2o Processing algorithms

Provider `s2o`, group "SAR to optical" of the Processing Toolbox. This page is written by
`scripts/algorithm_docs.py` from the algorithms' own help and parameters (the dialogs' Help
button opens it); edit the algorithms, then run the script.
"""


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(param) -> str:
    value = param.defaultValue()
    if param.type() == "enum" and value is not None:
        return param.options()[int(value)]
    return "" if value is None else str(value)


def render() -> str:
    """The page, from the provider's algorithms (needs a running QgsApplication)."""
    from s2o_qgis_plugin.algorithms import algorithm_classes

    parts = [HEADER]
    for cls in algorithm_classes():
        alg = cls()
        alg.initAlgorithm()
        parts += [f'<a id="{alg.name()}"></a>',
                  f"## {alg.displayName()} (`s2o:{alg.name()}`)", ""]
        parts += [f"{p}\n" for p in alg.HELP]
        parts += ["| parameter | name | type | default |", "| --- | --- | --- | --- |"]
        for p in alg.parameterDefinitions():
            choices = f": {', '.join(p.options())}" if p.type() == "enum" else ""
            optional = " (optional)" if p.flags() & p.FlagOptional else ""
            parts.append(f"| {_cell(p.description())}{optional} | `{p.name()}` | "
                         f"{p.type()}{_cell(choices)} | {_cell(_default(p))} |")
        outputs = [o for o in alg.outputDefinitions()
                   if o.name() not in {p.name() for p in alg.parameterDefinitions()}]
        if outputs:
            parts += ["", "Outputs: " + "; ".join(f"`{o.name()}` ({o.description()})"
                                                   for o in outputs) + "."]
        parts.append("")
    return "\n".join(parts)


def main() -> int:
    from qgis.core import QgsApplication

    sys.path.insert(0, str(ROOT))
    app = QgsApplication([], False)
    app.initQgis()
    DOCS.write_text(render(), encoding="utf-8")
    print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
