"""Progress bars (tqdm on stderr) named by what shows them: ``label`` for the command, the stage key
(``gen-0/generate``) inside ``rlaif-audit run``."""

from __future__ import annotations

import functools
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator, TypeVar

PROGRESS_NAME: ContextVar[str] = ContextVar("rlaif_audit_progress_name", default="label")
"""The name the progress bars opened now carry (their tqdm ``desc``)."""

Stage = TypeVar("Stage", bound=Callable[..., Any])


def progress_bar(total: int, enabled: bool, unit: str, initial: int = 0) -> Any:
    """A tqdm bar on stderr named ``PROGRESS_NAME``; a disabled one when ``enabled`` is false."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit=unit, desc=PROGRESS_NAME.get(), disable=not enabled,
                file=sys.stderr, dynamic_ncols=True)


@contextmanager
def progress_named(name: str) -> Iterator[None]:
    """Inside the block, progress bars carry ``name``."""
    token = PROGRESS_NAME.set(name)
    try:
        yield
    finally:
        PROGRESS_NAME.reset(token)


def stage_progress(stage: str) -> Callable[[Stage], Stage]:
    """Decorate a loop stage ``run_x(run, generation)``: its progress bars carry the stage key (``gen-0/label``)."""

    def decorate(function: Stage) -> Stage:
        @functools.wraps(function)
        def wrapper(run: Any, generation: int, *args: Any, **kwargs: Any) -> Any:
            from rlaif_audit.loop.layout import stage_key

            with progress_named(stage_key(generation, stage)):
                return function(run, generation, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
