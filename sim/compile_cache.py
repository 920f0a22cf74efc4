"""Numba's on-disk cache of compiled code, invalidated by any change to the package.

Numba keys a cached function by its own source file only: after an edit of the catalogue
(an event, a clock, a stream key) or of a rule in another file, the kernel that inlines
those constants would load stale machine code and silently give other numbers. The
locators below stamp every cached function with a hash of the source files that compiled
code is made of (the catalogue, the numerics and the engines) instead, so any change
there recompiles. They are registered when the package is imported, before any function
is compiled.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba.core import caching

PACKAGE = Path(__file__).resolve().parent
#: The folders whose code is compiled, or read by compiled code as constants.
COMPILED = ("model", "numerics", "engines")


@functools.cache
def package_stamp() -> str:
    """SHA-256 of the Python source files of the compiled folders, in path order."""
    digest = hashlib.sha256()
    for path in sorted(p for folder in COMPILED for p in (PACKAGE / folder).rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _in_package(py_file: str) -> bool:
    return Path(py_file).resolve().is_relative_to(PACKAGE)


def _stamped(base: type) -> type:
    class Locator(base):  # type: ignore[misc, valid-type]
        """`base`, with the whole package's source as the freshness stamp."""

        def get_source_stamp(self) -> str:
            return package_stamp()

        @classmethod
        def from_function(cls, py_func, py_file):
            if not _in_package(py_file):
                return None
            return super().from_function(py_func, py_file)

    Locator.__name__ = Locator.__qualname__ = f"Package{base.__name__.lstrip('_')}"
    return Locator


def _locator_list() -> list:
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    return impl._locator_classes


def _class(name: str) -> type:
    return getattr(caching, name, None) or getattr(caching, f"_{name}")


def install() -> None:
    """Put the package's locators first (NUMBA_CACHE_DIR first, as in Numba); idempotent."""
    classes = _locator_list()
    if any(getattr(c, "__name__", "").startswith("Package") for c in classes):
        return
    user, in_tree = _class("UserProvidedCacheLocator"), _class("InTreeCacheLocator")
    classes[:0] = [_stamped(user), _stamped(in_tree)]


def is_compiled(dispatcher) -> bool:
    """Whether `dispatcher` has machine code cached for the current package (a run that
    finds none compiles first). True when that cannot be told (the run just proceeds)."""
    try:
        return bool(dispatcher._cache._cache_file._load_index())
    except Exception:  # Numba internals: never block a run on them
        return True
