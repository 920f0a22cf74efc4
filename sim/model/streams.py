"""The random streams, named by purpose (DESIGN §6), declared once for both engines.

A draw is keyed by (seed, parameter set, patient, stream, counter). A stream's key is
a hash of its name, so adding, removing or reordering streams leaves every other stream's
numbers as they were; its counter, per patient and strategy, advances only when the
stream is drawn from. ``STREAM[name]`` is the position of the stream's counter in an
engine's counter array, ``STREAM_KEY[position]`` the number its draws are keyed by.
"""

from __future__ import annotations

import hashlib
from collections import namedtuple

import numpy as np

#: Streams, named by purpose. Each draws its own sequence of uniforms for a patient.
STREAMS: tuple[str, ...] = (
    "attributes",  # counters fixed by ATTRIBUTE below, identical in every strategy
    "oral_side_effect_time",
    "oral_side_effect_type",
    "tablets_stopped",
    "oral_withdrawal",
    "itb_side_effect_time",
    "itb_side_effect_type",
    "catheter_failure",
    "pump_failure",
    "battery_life",
    "infection",  # whether a surgery leads to an infection
    "infection_time",
    "meningitis",
    "infection_explant",
    "reimplant",
    "explant",
    "pocket_fill",
    "programming_error",
    "missed_refill",
    "missed_refill_delay",  # how late a missed refill comes
    "screening_adverse_effect",  # headache after the screening test
    "withdrawal_given_cause",  # after a catheter or pump failure, depletion, missed refill
    "severity",
    "event_death",
    "parameters",  # PSA draws of uncertain parameters (sim.scenario.params), never a patient's
)
N_STREAMS = len(STREAMS)
STREAM: dict[str, int] = {name: i for i, name in enumerate(STREAMS)}
#: Stream positions as attributes (``STREAM_ID.severity``), constants in compiled code.
STREAM_ID = namedtuple("StreamIds", STREAMS)(*range(N_STREAMS))


def stream_key(name: str) -> int:
    """The 64-bit key of a stream: the first 8 bytes of the SHA-256 of its name (stable
    across platforms and Python versions, unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


#: The number a stream's draws are keyed by, by position.
STREAM_KEY: np.ndarray = np.array([stream_key(n) for n in STREAMS], dtype=np.uint64)

#: Counter of each patient attribute on the "attributes" stream (DESIGN §4.1).
ATTRIBUTES: tuple[str, ...] = (
    "age",
    "sex",
    "indication",
    "itb_dose",
    "oral_dose",
    "itb_response",
    "oral_response",
    "background_death",
    "replacement_delay",
)
ATTRIBUTE: dict[str, int] = {name: i for i, name in enumerate(ATTRIBUTES)}
