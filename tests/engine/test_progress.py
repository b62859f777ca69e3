"""The progress reduction that every view colours states from."""

from __future__ import annotations

from stepline.asl import execute
from stepline.engine.progress import summarize
from stepline.integrations import register_function

FN = "arn:aws:lambda:us-east-1:123456789012:function:"


def test_statuses_for_succeeded_caught_and_failed() -> None:
    register_function("explode", lambda e: (_ for _ in ()).throw(ValueError("no")))
    definition = {
        "StartAt": "Par",
        "States": {
            "Par": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Ok", "States": {"Ok": {"Type": "Pass", "End": True}}},
                    {
                        "StartAt": "Bad",
                        "States": {
                            "Bad": {
                                "Type": "Task",
                                "Resource": FN + "explode",
                                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}],
                                "End": True,
                            },
                            "Handled": {"Type": "Pass", "End": True},
                        },
                    },
                ],
                "Next": "Each",
            },
            "Each": {
                "Type": "Map",
                "ItemsPath": "$[0]",
                "ItemProcessor": {"StartAt": "In", "States": {"In": {"Type": "Pass", "End": True}}},
                "Next": "Stop",
            },
            "Stop": {"Type": "Fail", "Error": "Done", "Cause": "end"},
        },
    }
    result = execute(definition, [1, 2, 3])
    assert result.status == "FAILED"
    progress = summarize(result.events)
    assert progress["Ok"].status == "succeeded"
    assert progress["Bad"].status == "caught"
    assert progress["Bad"].error == "ValueError"
    assert progress["Handled"].status == "succeeded"
    assert progress["Par"].status == "succeeded"
    assert progress["In"].entered == 3 and progress["In"].status == "succeeded"
    assert progress["Stop"].status == "failed"
    assert set(progress) == {"Par", "Ok", "Bad", "Handled", "Each", "In", "Stop"}


def test_in_progress_while_running() -> None:
    events = execute(
        {
            "StartAt": "A",
            "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}},
        }
    ).events
    partial = summarize(events[:4])  # started, A entered/exited, B entered
    assert partial["A"].status == "succeeded"
    assert partial["B"].status == "in_progress"
