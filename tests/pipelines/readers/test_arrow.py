"""The readers' column kernels give pandas' answers, whatever the ids hold."""

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from pipelines.readers.arrow import member_of

IDS = st.one_of(st.none(), st.sampled_from(["1767.1", "1767.1#2", "agent1", "", " ", "ünï", "=1+1"]), st.text(max_size=6))


@given(st.lists(IDS, max_size=40), st.sets(IDS, max_size=12), st.sampled_from(["string", "object"]))
def test_member_of_answers_as_isin_does(cells, values, dtype):
    column = pd.Series(cells, dtype=dtype, index=[f"r{i}" for i in range(len(cells))])
    expected = column.isin(values).fillna(False).astype(bool)
    found = member_of(column, values)
    assert found.tolist() == expected.tolist() and found.index.equals(column.index)


def test_ids_that_are_not_text_fall_back_to_pandas():
    assert member_of(pd.Series([1, 2, 3]), {2}).tolist() == [False, True, False]
    assert member_of(pd.Series(["a", "b"]), {1, "a"}).tolist() == [True, False]
