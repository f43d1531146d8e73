"""Read-only views of the audit context, one per auditor, so that no auditor can change what the others read.

The runner freezes the context once (:func:`frozen_context`): its tables are copied and their numpy buffers made
read-only at the root (``writeable=False``, which a view cannot turn back on), container cells become
:class:`FrozenList`/:class:`FrozenDict`. Each auditor then gets :func:`context_view`: a new ``AuditContext`` whose
tables are pandas copy-on-write shallow copies (an auditor may add or change columns of its own copy; the shared
buffers stay as they were), extension-array columns (categoricals, masked integers) copied, attrs deep-copied, and
options frozen.
"""

from __future__ import annotations

import copy
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from rlaif_audit.auditing.auditor import AuditContext

READ_ONLY_MESSAGE = "the audit context is read-only (shared by every auditor): copy it before changing it"


def _refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise TypeError(READ_ONLY_MESSAGE)


class FrozenDict(dict):  # type: ignore[type-arg]
    """A dict that refuses every change; ``copy()`` and ``copy.deepcopy`` give a plain, changeable dict."""

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore

    def __copy__(self) -> dict[Any, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return {copy.deepcopy(key, memo): copy.deepcopy(value, memo) for key, value in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return dict, (dict(self),)


class FrozenList(list):  # type: ignore[type-arg]
    """A list that refuses every change; ``list(x)``, ``x + [...]`` and ``copy.deepcopy`` give plain lists."""

    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = extend = insert = pop = remove = clear = \
        sort = reverse = _refuse  # type: ignore

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(value, memo) for value in self]

    def __reduce__(self) -> tuple[Any, ...]:
        return list, (list(self),)


def frozen_value(value: Any) -> Any:
    """``value`` with every dict, list and set inside it made immutable, arrays read-only copies, tables views."""
    if isinstance(value, dict):
        return FrozenDict({key: frozen_value(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        items = [frozen_value(item) for item in value]
        return tuple(items) if isinstance(value, tuple) else FrozenList(items)
    if isinstance(value, (set, frozenset)):
        return frozenset(value)
    if isinstance(value, np.ndarray):
        array = value.copy()
        array.flags.writeable = False
        return array
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return table_view(frozen_table(value))
    return value


def _make_read_only(array: np.ndarray) -> None:
    """``writeable=False`` on the array and every array it is a view of (the table's own buffers)."""
    chain = [array]
    while isinstance(chain[-1].base, np.ndarray):
        chain.append(chain[-1].base)
    for link in reversed(chain):
        link.flags.writeable = False


def _is_container(value: Any) -> bool:
    return isinstance(value, (dict, list, set, np.ndarray))


def frozen_table(table: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """A copy of ``table`` whose numpy buffers are read-only at the root and whose container cells are frozen."""
    frame = table.to_frame() if isinstance(table, pd.Series) else table.copy(deep=False)
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if column.dtype == object and any(_is_container(cell) for cell in column):
            frame.isetitem(position, pd.Series([frozen_value(cell) for cell in column], index=frame.index,
                                               dtype=object))
    frame = frame.copy(deep=True)  # after the cells: every block then owns its buffer, so read-only holds for all
    for position, dtype in enumerate(frame.dtypes):
        if _numpy_backed(dtype):
            _make_read_only(frame.iloc[:, position].to_numpy(copy=False))
    frame.attrs = copy.deepcopy(table.attrs)
    return frame.iloc[:, 0] if isinstance(table, pd.Series) else frame


def _numpy_backed(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype)


def table_view(table: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """An auditor's own copy-on-write view of a frozen table: numpy columns shared read-only, others copied."""
    view = table.copy(deep=False)
    if isinstance(view, pd.DataFrame):
        for position, dtype in enumerate(view.dtypes):
            if not _numpy_backed(dtype) and not _immutable_extension(dtype):
                view.isetitem(position, view.iloc[:, position].copy(deep=True))
    elif not _numpy_backed(view.dtype) and not _immutable_extension(view.dtype):
        view = view.copy(deep=True)
    view.attrs = copy.deepcopy(table.attrs)
    return view


def _immutable_extension(dtype: Any) -> bool:
    """Arrow-backed columns (``str``, ``ArrowDtype``): setting an element builds a new array, the shared one stays."""
    return isinstance(dtype, pd.ArrowDtype) or (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow")


def frozen_context(ctx: AuditContext) -> AuditContext:
    """The context with frozen tables (done once per audit; ``ctx`` itself is left as it was)."""
    return AuditContext(pairs=frozen_table(ctx.pairs), judgments=frozen_table(ctx.judgments),
                        labels=frozen_table(ctx.labels), seed=ctx.seed, n_bootstrap=ctx.n_bootstrap,
                        options=dict(ctx.options), compare=None if ctx.compare is None else frozen_context(ctx.compare))


def context_view(frozen: AuditContext) -> AuditContext:
    """One auditor's context: its own views of the frozen tables and frozen options (see the module docstring)."""
    return AuditContext(pairs=table_view(frozen.pairs), judgments=table_view(frozen.judgments),
                        labels=table_view(frozen.labels), seed=frozen.seed, n_bootstrap=frozen.n_bootstrap,
                        options=frozen_value(frozen.options),
                        compare=None if frozen.compare is None else context_view(frozen.compare))
