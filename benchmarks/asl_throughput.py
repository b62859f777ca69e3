"""State transitions per second: stepline's interpreter vs moto's (LocalStack's) on the same shapes.

Shapes: (1) a chain of 1,000 Pass states, (2) an inline Map over 1,000 items with a Pass
inside, (3) a Choice+Pass loop of 1,000 iterations.  stepline runs in memory and with the
durable SQLite store; moto runs its Step Functions interpreter
(``mock_aws(config={"stepfunctions": {"execute_state_machine": True}})``) in the same process.

A "transition" is one state entered, counted from each run's own history where available
(so both sides are measured the same way).  Run: ``python benchmarks/asl_throughput.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

N = 1000


def chain(n: int) -> dict:
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(n - 1)}
    states[f"S{n - 1}"] = {"Type": "Pass", "End": True}
    return {"StartAt": "S0", "States": states}


def inline_map(n: int) -> tuple[dict, dict]:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
    }
    return definition, {"items": list(range(n))}


def choice_loop(n: int) -> tuple[dict, dict]:
    definition = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericGreaterThanEquals": n, "Next": "Done"}],
                "Default": "Inc",
            },
            "Inc": {
                "Type": "Pass",
                "Parameters": {"i.$": "States.MathAdd($.i, 1)"},
                "Next": "Check",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    return definition, {"i": 0}


SHAPES = {
    "pass_chain_1000": lambda: (chain(N), {}),
    "inline_map_1000": lambda: inline_map(N),
    "choice_loop_1000": lambda: choice_loop(N),
}


def entered(events: list[dict]) -> int:
    return sum(1 for e in events if e["type"].endswith("StateEntered"))


def run_stepline_memory(definition: dict, payload: dict) -> tuple[float, int]:
    from stepline.asl import execute, parse

    parsed = parse(definition)
    start = time.perf_counter()
    result = execute(parsed, payload)
    took = time.perf_counter() - start
    assert result.status == "SUCCEEDED", result
    return took, entered(result.events)


def run_stepline_durable(
    definition: dict, payload: dict, home: str, name: str
) -> tuple[float, int]:
    from stepline.engine import Engine

    engine = Engine(home)
    engine.create_state_machine(name, definition)
    start = time.perf_counter()
    desc = engine.start_execution(name, payload)
    took = time.perf_counter() - start
    assert desc["status"] == "SUCCEEDED", desc
    return took, entered(engine.get_execution_history(desc["executionArn"]))


def run_moto(definition: dict, payload: dict, name: str) -> tuple[float, int]:
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="us-east-1")
        arn = client.create_state_machine(
            name=name,
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/bench",
        )["stateMachineArn"]
        start = time.perf_counter()
        exec_arn = client.start_execution(stateMachineArn=arn, input=json.dumps(payload))[
            "executionArn"
        ]
        while True:
            status = client.describe_execution(executionArn=exec_arn)["status"]
            if status != "RUNNING":
                break
            time.sleep(0.005)
        took = time.perf_counter() - start
        assert status == "SUCCEEDED", status
        events = []
        kwargs = {"executionArn": exec_arn, "maxResults": 1000}
        while True:
            page = client.get_execution_history(**kwargs)
            events.extend(page["events"])
            if "nextToken" not in page:
                break
            kwargs["nextToken"] = page["nextToken"]
        return took, entered(events)


def best(fn, repeats: int) -> tuple[float, int]:
    runs = [fn(i) for i in range(repeats)]
    return min(r[0] for r in runs), runs[0][1]


def measure(
    shape: str, definition: dict, payload: dict, home: str, repeats: int, moto: bool
) -> tuple[str, float, float, float]:
    """Transitions per second for one shape: in memory, durable, and moto (0 if skipped)."""
    mem_t, mem_n = best(lambda i: run_stepline_memory(definition, payload), repeats)
    dur_t, dur_n = best(
        lambda i: run_stepline_durable(definition, payload, home, f"{shape}-{i}"), repeats
    )
    moto_rate = 0.0
    if moto:
        moto_t, moto_n = best(lambda i: run_moto(definition, payload, f"{shape}{i}"), 1)
        moto_rate = moto_n / moto_t
    return shape, mem_n / mem_t, dur_n / dur_t, moto_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-moto", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    rows = []
    with tempfile.TemporaryDirectory() as home:
        for shape, make in SHAPES.items():
            rows.append(measure(shape, *make(), home, args.repeats, not args.no_moto))
    print(f"{'shape':<20}{'memory/s':>12}{'durable/s':>12}{'moto/s':>10}{'mem x':>8}{'dur x':>8}")
    for shape, mem, dur, moto in rows:
        mx = mem / moto if moto else float("nan")
        dx = dur / moto if moto else float("nan")
        print(f"{shape:<20}{mem:>12,.0f}{dur:>12,.0f}{moto:>10,.0f}{mx:>8.1f}{dx:>8.1f}")
    if not args.no_moto:
        mem_ratio = statistics.geometric_mean([r[1] / r[3] for r in rows])
        dur_ratio = statistics.geometric_mean([r[2] / r[3] for r in rows])
        print(
            f"geometric mean: {mem_ratio:.1f}x moto in memory (target 20x), "
            f"{dur_ratio:.1f}x with the durable store (target 5x)"
        )


if __name__ == "__main__":
    main()
