"""One class per ASL state type, registered in the plain mapping ``STATE_TYPES``."""

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
