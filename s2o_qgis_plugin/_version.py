"""The plugin's version, read from metadata.txt (the single source of name and version).

metadata.txt sits beside this file inside a packaged plugin and one folder up in the source
tree; both are looked for.
"""

import configparser
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def read_metadata() -> configparser.SectionProxy:
    for candidate in (_HERE / "metadata.txt", _HERE.parent / "metadata.txt"):
        if candidate.is_file():
            parser = configparser.ConfigParser(interpolation=None)
            parser.read(candidate, encoding="utf-8")
            return parser["general"]
    raise FileNotFoundError("metadata.txt not found beside the plugin or in the source tree")


__version__ = read_metadata()["version"]
