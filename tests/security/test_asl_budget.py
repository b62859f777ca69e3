"""Hostile definitions can't hang or exhaust the interpreter (issue 10, "Evaluation is bounded").

Each test performs the attack: a recursive JSONata function, ``$range(0, 1e9)``, a huge
``States.ArrayRange``, a string that doubles itself, an execution stuck evaluating that is
stopped, and an evaluation that runs out of memory under a ulimit.  Budgets are small so the
tests are fast.
"""

from __future__ import annotations

import threading
import time
import tracemalloc

import pytest

from stepline.asl import Limits, execute
from stepline.engine import Engine

SMALL = Limits(eval_timeout_ms=300, eval_max_depth=100)


def jsonata_output(expr: str) -> dict:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": "{% " + expr + " %}", "End": True}},
    }


def test_recursive_function_fails_at_the_depth_budget() -> None:
    # Not a tail call: every level nests deeper.
    started = time.monotonic()
    result = execute(jsonata_output("($f := function($n){ 1 + $f($n + 1) }; $f(0))"), limits=SMALL)
    assert result.status == "FAILED"
    assert result.error == "States.QueryEvaluationError"
    assert "budget" in result.cause
    assert time.monotonic() - started < 5


def test_endless_tail_recursion_fails_at_the_time_budget() -> None:
    # A tail call runs in constant depth: only the time budget stops it.
    started = time.monotonic()
    result = execute(jsonata_output("($f := function($n){ $f($n + 1) }; $f(0))"), limits=SMALL)
    elapsed = time.monotonic() - started
    assert result.status == "FAILED"
    assert result.error == "States.QueryEvaluationError"
    assert "ran longer than 300 ms" in result.cause
    assert elapsed < 5


def test_range_of_a_billion_is_refused_before_allocating() -> None:
    tracemalloc.start()
    try:
        result = execute(jsonata_output("$range(0, 1e9, 1)"), limits=SMALL)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "FAILED"
    assert result.error == "States.QueryEvaluationError"
    assert "1000000001 items" in result.cause
    assert peak < 20 * 1024 * 1024  # 1e9 ints would be tens of GiB


def test_array_range_intrinsic_is_refused_before_allocating() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Parameters": {"r.$": "States.ArrayRange(0, 1000000000, 1)"},
                "End": True,
            }
        },
    }
    tracemalloc.start()
    try:
        result = execute(definition, limits=SMALL)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "FAILED"
    assert result.error == "States.IntrinsicFailure"
    assert peak < 20 * 1024 * 1024


@pytest.mark.parametrize(
    "expr",
    [
        '($f := function($s, $n){ $n = 0 ? $s : $f($s & $s, $n - 1) }; $f("a", 60))',
        '$pad("x", 1e12)',
    ],
)
def test_strings_cannot_grow_without_bound(expr: str) -> None:
    tracemalloc.start()
    try:
        result = execute(jsonata_output(expr), limits=SMALL)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "FAILED"
    assert result.error == "States.QueryEvaluationError"
    assert peak < 64 * 1024 * 1024


def test_a_lazy_range_too_big_for_any_payload_is_not_copied() -> None:
    result = execute(jsonata_output("[0..9999999]"), limits=SMALL)
    assert result.status == "FAILED"
    assert result.error == "States.DataLimitExceeded"


def test_stop_execution_stops_an_execution_stuck_evaluating(tmp_path, monkeypatch) -> None:
    # The time budget is far longer than the test: only StopExecution can end it quickly.
    monkeypatch.setenv("STEPLINE_EVAL_TIMEOUT_MS", "600000")
    engine = Engine(tmp_path, virtual_time=True)
    engine.create_state_machine("spin", jsonata_output("($f := function($n){ $f($n + 1) }; $f(0))"))
    engine.start_execution("spin", {}, name="e1", wait=False)
    deadline = time.monotonic() + 10
    while not engine.get_execution_history("e1") and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # now it is inside the expression
    assert engine.describe_execution("e1")["status"] == "RUNNING"
    stopped = time.monotonic()
    engine.stop_execution("e1", error="Stop", cause="stuck")
    described = engine.wait("e1", timeout=10)
    assert described["status"] == "ABORTED"
    assert time.monotonic() - stopped < 5
    assert engine.get_execution_history("e1")[-1]["type"] == "ExecutionAborted"


def test_memory_exhaustion_fails_the_execution_with_a_named_error(tmp_path, monkeypatch) -> None:
    # What a MemoryError under a ulimit looks like to the interpreter, made deterministic: a
    # function cannot allocate its result.  (A real RLIMIT_AS run is flaky: CPython itself
    # may stall when it cannot allocate the traceback.)
    from stepline.asl import jsonata

    def no_memory(*args):
        raise MemoryError

    monkeypatch.setitem(jsonata._AWS_FUNCTIONS, "partition", no_memory)
    engine = Engine(tmp_path, virtual_time=True)
    engine.create_state_machine("oom", jsonata_output("$partition([0, 1, 2, 3, 4, 5, 6], 7)"))
    out = engine.start_execution("oom", {}, name="e1")
    assert out["status"] == "FAILED"
    assert out["error"] == "States.QueryEvaluationError"
    assert "out of memory" in out["cause"]
    # And the store agrees: nothing is left RUNNING.
    assert Engine(tmp_path).describe_execution("e1")["status"] == "FAILED"


def test_an_engine_error_outside_the_program_does_not_leave_it_running(tmp_path, monkeypatch):
    engine = Engine(tmp_path, virtual_time=True)
    engine.create_state_machine("m", jsonata_output("1"))

    def broken(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr("stepline.engine.engine.Program", broken)
    out = engine.start_execution("m", {}, name="e1")
    assert out["status"] == "FAILED"
    assert out["error"] == "States.Runtime"


def test_an_internal_error_ends_the_execution_instead_of_escaping(monkeypatch) -> None:
    # A bug anywhere in evaluation (here: the JSONPath engine raising a raw Python error)
    # must end the execution with States.Runtime, not escape execute().
    from stepline.asl import paths

    def broken(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "InputPath": "$.a", "End": True}},
    }
    monkeypatch.setattr(paths.Path, "get", broken)
    result = execute(definition, {"a": 1})
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert "RecursionError" in result.cause


def test_budget_is_per_thread_and_restored() -> None:
    # Map iterations and concurrent executions on other threads keep their own budget.
    from stepline.asl import jsonata

    seen = []

    def run() -> None:
        seen.append(execute(jsonata_output("$range(1, 3, 1)"), limits=SMALL).output)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [[1, 2, 3]] * 4
    assert getattr(jsonata._local, "budget", None) is None


def test_string_bound_holds_after_a_syntax_check_on_the_same_thread() -> None:
    """The library evaluates through the first JSONata instance made on a thread; a syntax
    check that came first (the validator's) once left ``&`` unbounded there."""
    import threading

    from stepline.asl.jsonata import jsonata_syntax_error

    expr = '($f := function($s, $n){ $n = 0 ? $s : $f($s & $s, $n - 1) }; $f("b", 60))'
    out: dict = {}

    def run() -> None:
        assert jsonata_syntax_error("1 + 1") is None  # the thread's first instance
        tracemalloc.start()
        try:
            out["result"] = execute(jsonata_output(expr), limits=SMALL)
            out["peak"] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    assert out["result"].error == "States.QueryEvaluationError"
    assert out["peak"] < 64 * 1024 * 1024
