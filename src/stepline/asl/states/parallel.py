"""Parallel: run every branch on the same input; the result is the list of their outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stepline.asl.definition import build_graph
from stepline.asl.states.base import JSONATA, RetryingState, StateGen
from stepline.asl.states.fields import RESULT_IO, RETRYING, Fields, f, ptr

if TYPE_CHECKING:
    from stepline.asl.program import Fiber
    from stepline.asl.validate import Validator


class ParallelState(RetryingState):
    """Branches run as child fibers; the first failure aborts the others (fail fast)."""

    type = "Parallel"
    fields = Fields(
        both=RETRYING | f("Branches"),
        jsonpath=RESULT_IO,
        jsonata=f("Arguments", "Output"),
        required=("Branches",),
        transitions=True,
    )
    nesting = "branches"

    @classmethod
    def check(cls, v: Validator, state: dict, path: str, lang: str, edges: list) -> None:
        """Each branch is a graph of its own (names are unique across all of them)."""
        branches = state.get("Branches")
        if "Branches" not in state:
            return
        branches_path = ptr(path, "Branches")
        if not v.non_empty_array(branches, branches_path, "state graphs"):
            return
        for i, branch in enumerate(branches):
            v.graph(branch, ptr(branches_path, i), v.top_lang)

    @classmethod
    def graphs(cls, spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        return [b for b in spec.get("Branches", []) if isinstance(b, Mapping)]

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        # Nested graphs default to the top-level query language, as AWS specifies.
        self.branches = [build_graph(b, query_language) for b in spec.get("Branches", [])]

    def attempt(self, fiber: Fiber, raw_input: Any) -> StateGen:
        from stepline.asl.program import ChildSpec, Spawn

        if self.query_language == JSONATA:
            branch_input = (
                self.arguments.render(fiber.states_var(raw_input, None), fiber.variables)
                if self.arguments is not None
                else raw_input
            )
        else:
            branch_input = self.effective_input(fiber, raw_input)
        self.check_input_size(fiber, branch_input)
        fiber.emit("ParallelStateStarted")
        children = [ChildSpec(g, branch_input, i) for i, g in enumerate(self.branches)]
        results = yield Spawn("parallel", children, state_name=self.name)
        # Aborted siblings of a failed branch have no result (None).
        failure = next((r[1] for r in results if r is not None and r[0] == "err"), None)
        if failure is not None:
            fiber.emit(
                "ParallelStateFailed",
                "parallelStateFailedEventDetails",
                error=failure.error,
                cause=failure.cause or "",
            )
            raise failure
        fiber.emit("ParallelStateSucceeded")
        outputs = [value for _, value in results]
        return self.finish(fiber, raw_input, outputs)
