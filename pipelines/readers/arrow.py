"""Column kernels the readers share, through Arrow where pandas is slow.

Pure functions over columns; no I/O.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow_table(rows: pd.DataFrame) -> pa.Table:
    """`pa.Table.from_pandas` without its index and without pandas 3.1's warning about tz-aware columns."""
    with warnings.catch_warnings():
        # pyarrow reads tz-aware columns through Series.values, which pandas 3.1 deprecates
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        return pa.Table.from_pandas(rows, preserve_index=False)


def _looked_up(cells, wanted) -> np.ndarray | None:
    """Arrow's `is_in` of text cells in text values (an empty cell matches only an empty value); None when either
    is not all text."""
    try:
        value_set = wanted if isinstance(wanted, pa.Array) else pa.array(wanted, type=pa.string())
        found = pc.is_in(as_text(cells), value_set=value_set)
    except pa.ArrowException:  # not text (numbers, bytes that are not UTF-8, a type Arrow cannot cast)
        return None
    return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def member_of(column: pd.Series, values: Iterable) -> pd.Series:
    """`column.isin(values)` for text ids, with the same answer (an empty cell matches only an empty value).

    pandas builds the lookup of an Arrow-backed column one Python scalar at a
    time (about half a second for 100,000 call ids); Arrow's `is_in` builds it
    in one pass.  Values that are not all text fall back to pandas' own isin.
    """
    wanted = values if isinstance(values, pa.Array) else list(values)
    found = _looked_up(column, wanted)
    if found is None:
        return column.isin(wanted.to_pylist() if isinstance(wanted, pa.Array) else wanted)
    return pd.Series(found, index=column.index, name=column.name)


def in_values(cells: np.ndarray, values: Iterable) -> np.ndarray:
    """`np.isin(cells, values)` for an array of text (queue_log's fields), as a boolean array.

    numpy's isin on object arrays slows down badly as `values` grows (minutes
    for 100,000 call ids against a night's queue_log); Arrow's `is_in` hashes
    them once.  Cells that are not all text fall back to numpy.
    """
    wanted = list(values)
    found = _looked_up(cells, wanted)
    return np.isin(cells, wanted) if found is None else found


TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default text dtype ("str"), held by Arrow


def texts(cells) -> pd.arrays.ArrowStringArray:
    """Text cells as pandas' Arrow-backed "str" array: a frame built from it copies nothing and compares to numpy
    booleans, where an array of Python strings is converted again by every frame built from it."""
    if isinstance(cells, pd.arrays.ArrowStringArray) and cells.dtype == TEXT:
        return cells
    if isinstance(cells, pa.Array | pa.ChunkedArray):
        return pd.arrays.ArrowStringArray(cells.cast(pa.large_string()), dtype=TEXT)
    return pd.array(np.asarray(cells, dtype=object), dtype=TEXT)


def repeated_text(text: str, n: int) -> pd.arrays.ArrowStringArray:
    """`text` `n` times (a file's name for each of its lines) without `n` Python references to convert."""
    return texts(pa.repeat(pa.scalar(text, pa.large_string()), n))


def joined_texts(parts) -> pd.arrays.ArrowStringArray:
    """Text arrays one after the other, as one array (Arrow keeps them as chunks: nothing is copied)."""
    arrays = [texts(part) for part in parts]
    return pd.arrays.ArrowStringArray._concat_same_type(arrays) if arrays else texts(pa.array([], pa.large_string()))


def distinct(cells) -> set[str]:
    """The distinct text cells as a Python set (missing cells left out), hashed by Arrow rather than one Python string
    at a time; an Arrow column of any type is taken as it is."""
    if not len(cells):
        return set()
    values = cells if isinstance(cells, pa.Array | pa.ChunkedArray) else as_text(cells)
    return {value for value in pc.unique(values).to_pylist() if value is not None}


def before_first(cells, separator: str) -> pa.Array:
    """Each text cell up to its first `separator` (all of it when there is none): a leg's call id to its call's."""
    return pc.list_element(pc.split_pattern(as_text(cells), separator, max_splits=1), 0)


def as_text(cells) -> pa.Array:
    """Text cells as one Arrow string array (an empty column of any type is an empty one)."""
    if not len(cells):
        return pa.array([], type=pa.string())
    array = pa.array(cells, type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array  # an Arrow-backed column's chunks


def text_union(*parts) -> pa.Array:
    """The distinct texts of several sets or Arrow arrays, as one Arrow array: ids kept compact, not as Python strings."""
    arrays = [part if isinstance(part, pa.Array) else as_text(list(part)) for part in parts]
    return pc.unique(pa.concat_arrays([a.cast(pa.string()) for a in arrays])) if arrays else pa.array([], type=pa.string())
