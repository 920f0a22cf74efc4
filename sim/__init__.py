"""baclofen-sim: intrathecal baclofen pump versus oral baclofen, a discrete-event risk model."""

from sim import compile_cache

__version__ = "0.1.0"

compile_cache.install()
