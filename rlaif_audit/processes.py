"""Which process of a distributed launch (``torchrun``, ``accelerate launch``) this is, and waiting for the others.

One rule, accelerate's: :class:`accelerate.PartialState` reads torchrun's and accelerate's environment
(``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, MPI's) and sets up the process group. It is set up the way the loop's TRL
trainers set it up (``TrainingArguments(use_cpu=True)`` on a machine without CUDA: the CPU ``gloo`` backend), so the
loop, the reward function and the trainers agree on the main process. A stray ``RANK`` without a launcher is one
process, the main one, as the trainers see it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from accelerate import PartialState

T = TypeVar("T")


def on_cpu() -> bool:
    """Whether training runs on the CPU (no CUDA device): the trainers' ``use_cpu`` and the processes' backend."""
    from rlaif_audit.judging.models import default_device

    return default_device() == "cpu"


def state() -> PartialState:
    """accelerate's process state (shared: once set up, by us or a trainer, every call returns the same)."""
    from accelerate import PartialState

    return PartialState(cpu=on_cpu())


def process_index() -> int:
    """This process's rank among all processes of the launch (0 without a launcher)."""
    return int(state().process_index)


def num_processes() -> int:
    """How many processes the launch started (1 without a launcher)."""
    return int(state().num_processes)


def is_main() -> bool:
    """Whether this is the main process: the one that writes the run's markers, manifest and reports."""
    return process_index() == 0


def wait_for_everyone() -> None:
    """Wait until every process gets here (a no-op in a single process)."""
    state().wait_for_everyone()


def share_from_main(value: T) -> T:
    """The main process's ``value`` on every process (``value`` itself in a single process); JSON-like values."""
    if num_processes() == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]
