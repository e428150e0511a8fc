"""What the plugin is called, its version, icon and web addresses: read from metadata.txt, their
one source (as in Oslandia's QGIS plugin templater). Everything that names the plugin (the
Processing provider, the Plugins menu, message titles, ``--version`` of the command-line tools,
pyproject's version, the zip's name) imports it from here.

metadata.txt sits beside this file inside a packaged plugin and one folder up in the source
tree; both are looked for. Its ``icon`` is relative to the plugin folder, as QGIS reads it.
Importing this module needs neither qgis nor any third-party package.
"""

import configparser
from pathlib import Path

DIR_PLUGIN_ROOT = Path(__file__).resolve().parent


def plugin_metadata() -> configparser.SectionProxy:
    """The [general] section of metadata.txt."""
    for candidate in (DIR_PLUGIN_ROOT / "metadata.txt", DIR_PLUGIN_ROOT.parent / "metadata.txt"):
        if candidate.is_file():
            parser = configparser.ConfigParser(interpolation=None)
            parser.read(candidate, encoding="utf-8")
            return parser["general"]
    raise FileNotFoundError("metadata.txt not found beside the plugin or in the source tree")


_METADATA = plugin_metadata()
__title__ = _METADATA["name"]  # the product's name: provider, Plugins menu, message titles
__summary__ = _METADATA["description"]
__version__ = _METADATA["version"]
__icon_path__ = DIR_PLUGIN_ROOT / _METADATA["icon"]
__uri_homepage__ = _METADATA["homepage"]
__uri_repository__ = _METADATA["repository"]
__uri_tracker__ = _METADATA["tracker"]
