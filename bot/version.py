"""The running opsbot's version, for ``opsbot --version``, ``opsbot doctor`` and the App Home.

The installed package's metadata says it. Where the package is not installed (a source
checkout run as ``python -m bot``, the Lambda bundle that ``sam build`` makes from the
repository) pyproject.toml beside the source says it instead."""

from __future__ import annotations

from functools import cache
from pathlib import Path

PACKAGE = "opsbot"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
UNKNOWN = "unknown"


@cache
def opsbot_version() -> str:
    from importlib import metadata  # deferred for cold start: most processes never show their version

    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return _source_version(PYPROJECT)


def _source_version(pyproject: Path) -> str:
    """pyproject.toml's [project] version; UNKNOWN when there is no such file or it has none
    (the version is shown, never relied on: the bot runs the same without it)."""
    import tomllib  # start-up: only a source checkout reads it, when the version is shown

    try:
        with pyproject.open("rb") as file:
            version = tomllib.load(file)["project"]["version"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return UNKNOWN
    return version if isinstance(version, str) and version else UNKNOWN
