"""The plugin's name, version and home page, read from metadata.txt (their single source).

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


_METADATA = read_metadata()
__version__ = _METADATA["version"]
PLUGIN_NAME = _METADATA["name"]  # provider, menu and message titles
HOMEPAGE = _METADATA["homepage"]
