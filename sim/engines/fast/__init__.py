"""The compiled (Numba) engine: the model of DESIGN §4 as one next-event loop per patient.

``layout`` packs a scenario into the arrays the kernel reads, ``kernel`` is one life under
one strategy, ``fold`` runs a block of patients and folds them into its tally, ``driver``
runs blocks on threads.
"""

from sim.engines.fast.driver import BLOCKS_PER_CALL, Run, default_threads
from sim.engines.fast.kernel import ACC, ACCUMULATORS

__all__ = ["ACC", "ACCUMULATORS", "BLOCKS_PER_CALL", "Run", "default_threads"]
