"""The catalogue is the one place the model's shared facts live (issue 14).

Both engines take the clocks, their tie-break order, what an explant or an implant
cancels, the streams and the parameter row from declarations; these tests fail if an
engine's reading of them differs from the declaration.
"""

from __future__ import annotations

import math

import numpy as np
from conftest import base_document, build
from hypothesis import given
from hypothesis import strategies as st

from sim.engines.fast import kernel, layout
from sim.model import clocks, events, streams


@given(
    st.lists(
        st.sampled_from([0.5, 1.0, 2.0, math.inf]),
        min_size=clocks.N_CLOCKS,
        max_size=clocks.N_CLOCKS,
    )
)
def test_the_compiled_scan_takes_the_earliest_clock_and_breaks_ties_in_catalogue_order(times):
    clock = np.array(times)
    t, k = kernel.earliest(clock)
    expected = min(range(clocks.N_CLOCKS), key=lambda j: (times[j], j))
    assert (t, k) == (times[expected], expected)


def test_the_simpy_priorities_follow_the_catalogue_order():
    priorities = [clocks.CLOCK_PRIORITY[c.name] for c in clocks.CLOCKS]
    assert priorities == sorted(priorities) and len(set(priorities)) == clocks.N_CLOCKS
    assert min(priorities) > 0  # 0 is SimPy's URGENT
    assert [getattr(clocks.CLOCK, c.name) for c in clocks.CLOCKS] == list(range(clocks.N_CLOCKS))


def test_what_an_explant_and_an_implant_cancel_is_declared_once():
    assert list(kernel.PUMP_CLOCKS) == [getattr(clocks.CLOCK, n) for n in clocks.PUMP_CLOCKS]
    assert list(kernel.TABLET_CLOCKS) == [getattr(clocks.CLOCK, n) for n in clocks.TABLET_CLOCKS]
    assert "reimplant" not in clocks.PUMP_CLOCKS  # an explant after infection sets it
    assert "background_death" not in clocks.PUMP_CLOCKS + clocks.TABLET_CLOCKS


def test_events_say_what_they_need_of_a_pump():
    assert {"implant", "reimplant"} == events.PUTS_PUMP_IN
    assert {"explant"} == events.TAKES_PUMP_OUT
    assert {"refill_visit", "catheter_failure", "overdose_severe"} <= events.NEEDS_PUMP
    assert not events.NEEDS_PUMP & {"withdrawal_mild", "tablets_stopped", "death_background"}


def test_streams_have_distinct_keys_and_positions():
    assert len(set(streams.STREAM_KEY.tolist())) == streams.N_STREAMS
    assert [streams.STREAM[n] for n in streams.STREAMS] == list(range(streams.N_STREAMS))


def test_the_parameter_row_holds_every_field_once_at_its_own_place():
    specs = (
        *layout.SCENARIO_FIELDS,
        *layout.UNTREATED_FIELDS,
        *layout.ORAL_FIELDS,
        *layout.ITB_FIELDS,
    )
    taken = np.zeros(layout.ROW_WIDTH, dtype=int)
    taken[layout.ROW.kind] += 1
    for spec in specs:
        start = getattr(layout.ROW, spec.name)
        taken[start : start + spec.width] += 1
    assert taken.tolist() == [1] * layout.ROW_WIDTH
    assert len({s.name for s in specs}) == len(specs)


def test_packing_reads_each_field_from_its_strategy():
    sc = build(base_document())
    model = layout.pack(sc)
    names = sc.strategy_names()
    itb, oral = names.index("itb"), names.index("oral")
    row = model.row
    assert row[itb, layout.ROW.kind] == layout.ITB and row[oral, layout.ROW.kind] == layout.ORAL
    assert row[itb, layout.ROW.itb_utility_change] == sc.strategies["itb"].utility_change
    # background care is the cohort's, in every strategy's row
    assert (row[:, layout.ROW.care_cost_per_year] == sc.cohort.care_cost_per_year).all()
    # an ITB strategy carries its fallback's tablet fields
    fallback = sc.strategies[sc.strategies["itb"].fallback]
    change = fallback.untreated_care_cost_multiplier
    assert row[itb, layout.ROW.oral_untreated_care_cost_multiplier] == change
    assert row[itb, layout.ROW.oral_response_probability] == fallback.response_probability
    cost = sc.strategies["itb"].surgery.catheter_revision.cost
    revision = layout.SURGERY.catheter_revision
    assert model.surgery[itb, revision, layout.SURGERY_COLUMN.cost] == cost


def test_a_stream_is_keyed_by_its_name_alone():
    """Adding a stream changes no other stream's numbers: the key is the name's hash."""
    assert streams.stream_key("severity") == streams.STREAM_KEY[streams.STREAM["severity"]]
    assert (
        streams.stream_key("severity") == 0x68959A55E5548FC9
    )  # pinned: a new hash re-keys every draw
    shifted = ("a_new_stream", *streams.STREAMS)
    assert [streams.stream_key(n) for n in shifted[1:]] == streams.STREAM_KEY.tolist()
