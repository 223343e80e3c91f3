"""The readers' column kernels give pandas' and numpy's answers, whatever the ids hold."""

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from pipelines.readers.arrow import in_values, member_of

IDS = st.one_of(st.none(), st.sampled_from(["1767.1", "1767.1#2", "agent1", "", " ", "ünï", "=1+1"]), st.text(max_size=6))


@given(st.lists(IDS, max_size=40), st.sets(IDS, max_size=12), st.sampled_from(["string", "object"]))
def test_member_of_answers_as_isin_does(cells, values, dtype):
    column = pd.Series(cells, dtype=dtype, index=[f"r{i}" for i in range(len(cells))])
    expected = column.isin(values).fillna(False).astype(bool)
    found = member_of(column, values)
    assert found.tolist() == expected.tolist() and found.index.equals(column.index)


@given(st.lists(IDS, max_size=40), st.sets(IDS.filter(lambda v: v is not None), max_size=12))
def test_in_values_answers_as_numpy_isin_does(cells, values):
    array = np.array(cells, dtype=object)
    assert in_values(array, values).tolist() == np.isin(array, list(values)).tolist()


def test_many_call_ids_are_looked_up_at_once():
    """A night's queue_log against every call id of a carry: numpy's isin on objects took minutes here."""
    ids = np.array([f"1767{n:07d}.{n % 89}" for n in range(300_000)], dtype=object)
    found = in_values(ids, ids[::3].tolist())
    assert found.sum() == 100_000 and found[0] and not found[1]


def test_ids_that_are_not_text_fall_back_to_pandas():
    assert member_of(pd.Series([1, 2, 3]), {2}).tolist() == [False, True, False]
    assert member_of(pd.Series(["a", "b"]), {1, "a"}).tolist() == [True, False]
    assert in_values(np.array([1, 2, 3]), [2]).tolist() == [False, True, False]
