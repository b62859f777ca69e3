"""One class per ASL state type, registered in the plain mapping ``STATE_TYPES``.

A class is everything stepline knows of its type: how it runs, its fields (``Fields``),
whether it ends its graph, its own validation rules and its nested graphs.  The interpreter,
the validator (``asl/validate.py``) and the views read them from here, so a new state type is
one module plus one line in the list below.  The SDK's builder (``stepline.sdk``,
``stepline.steps``) is a convenience: a new type may skip it (a definition written as JSON
runs without it).
"""

from stepline.asl.states.base import State, Transition
from stepline.asl.states.choice import ChoiceState
from stepline.asl.states.map import MapState
from stepline.asl.states.parallel import ParallelState
from stepline.asl.states.simple import FailState, PassState, SucceedState
from stepline.asl.states.task import TaskState
from stepline.asl.states.wait import WaitState

STATE_TYPES: dict[str, type[State]] = {
    cls.type: cls
    for cls in (
        PassState,
        TaskState,
        ChoiceState,
        WaitState,
        SucceedState,
        FailState,
        ParallelState,
        MapState,
    )
}

__all__ = ["STATE_TYPES", "State", "Transition"]
