"""Kept only for scripts/default_model.py, which imports __version__ from here: the plugin's name,
version, icon and addresses live in __about__.py (read from metadata.txt)."""

from .__about__ import __version__  # noqa: F401
