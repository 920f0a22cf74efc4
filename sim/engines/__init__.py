"""The engines: compiled code. Importing the package registers the package's cache locators
(sim.compile_cache) before any of its functions is decorated, that is, before Numba
picks where each function's machine code is cached."""

from sim import compile_cache

compile_cache.install()
