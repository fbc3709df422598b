"""The vliqa version (the top-level `vliqa.__version__`), here so that every layer can record it.

The one place it is written: pyproject.toml reads it from here; CHANGELOG.md says what each version changed.
"""

__version__ = "0.10.0"
