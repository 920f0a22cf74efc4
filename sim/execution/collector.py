"""The cyclic garbage collector around objects that live as long as the process.

The command line's imports make about a million objects (NumPy, pandas, pydantic, Numba),
and its first scenario load adds Numba's machinery: the collector would walk them over
and over while they are made, and once more at exit (0.4 s of a small run).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    """A block whose objects live as long as the process (the libraries' imports, Numba's
    machinery at the first load): the cyclic collector is kept off while they are made,
    as it would walk them over and over, and they are kept out of its later walks
    (gc.freeze); it is left on or off as it was found."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
