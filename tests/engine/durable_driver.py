"""A separate process that runs (or resumes) the durability test's execution.

Kept as a plain script so the test can SIGKILL it at any moment.  The local function logs
every invocation to ``$STEPLINE_HOME/calls.log`` so the test can count re-runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from stepline.engine import Engine
from stepline.integrations import register_function

LOG = Path(os.environ["STEPLINE_HOME"]) / "calls.log"

DEFINITION = {
    "StartAt": "Seed",
    "States": {
        "Seed": {"Type": "Pass", "Result": {"n": 0, "round": 0}, "Next": "Step"},
        "Step": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step",
            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 1}],
            "Next": "Fan",
        },
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "B1",
                    "States": {
                        "B1": {
                            "Type": "Task",
                            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step",
                            "Next": "B1Done",
                        },
                        "B1Done": {"Type": "Pass", "End": True},
                    },
                },
                {
                    "StartAt": "B2Wait",
                    "States": {
                        "B2Wait": {"Type": "Wait", "Seconds": 0, "Next": "B2"},
                        "B2": {"Type": "Pass", "Result": "waited", "End": True},
                    },
                },
            ],
            "ResultSelector": {"n.$": "$[0].n", "round.$": "$[0].round", "w.$": "$[1]"},
            "Next": "Items",
        },
        "Items": {
            "Type": "Pass",
            "Parameters": {
                "n.$": "$.n",
                "round.$": "$.round",
                "items.$": "States.ArrayRange(1, 4, 1)",
            },
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 2,
            "ItemSelector": {"n.$": "$$.Map.Item.Value", "round.$": "$.round"},
            "ItemProcessor": {
                "StartAt": "Inner",
                "States": {
                    "Inner": {
                        "Type": "Task",
                        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step",
                        "End": True,
                    }
                },
            },
            "ResultSelector": {"total.$": "States.ArrayLength($)", "last.$": "$[3].n"},
            "ResultPath": "$.each",
            "Next": "Again",
        },
        "Again": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.round", "NumericLessThan": 2, "Next": "NextRound"}],
            "Default": "Done",
        },
        "NextRound": {
            "Type": "Pass",
            "Parameters": {"n.$": "$.each.last", "round.$": "States.MathAdd($.round, 1)"},
            "Next": "Step",
        },
        "Done": {"Type": "Succeed"},
    },
}


def step(event: dict) -> dict:
    with LOG.open("a") as fh:
        fh.write(json.dumps(event) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    time.sleep(0.03)
    return {"n": event["n"] + 1, "round": event["round"]}


def main() -> None:
    register_function("step", step)
    engine = Engine()
    if sys.argv[1] == "start":
        engine.create_state_machine("durable", DEFINITION)
        engine.start_execution("durable", {}, name=sys.argv[2])
    else:
        engine.resume()


if __name__ == "__main__":
    main()
