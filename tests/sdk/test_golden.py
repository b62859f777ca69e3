"""Our rendering of the same pipelines versus AWS's Data Science SDK (goldens).

The goldens in ``golden/`` were produced by ``scripts/make_dssdk_golden.py`` with
``stepfunctions==2.3.0`` and ``sagemaker<3``; ``pipelines.py`` holds the pipeline code, run
here with stepline's names.  Differences are deliberate and listed in ``DELIBERATE``:

* ``HyperParameters`` are strings.  The DS SDK merges ``TrainingStep(hyperparameters=)`` into
  the estimator's without stringifying (``"epochs": 10``), which CreateTrainingJob (a
  string->string map) rejects; its issues #65/#72.  We send ``"10"`` as the SageMaker SDK does.
* No ``DebugHookConfig``.  The DS SDK adds SageMaker Debugger's hook config to every training
  job; Debugger is an AWS-hosted service with nothing to do locally, and the field is optional.
* ``Environment`` is kept.  The Airflow exporter the DS SDK relies on drops the estimator's
  ``environment``, so the job silently runs without the variables the user set.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pipelines
import pytest

import stepline.steps as steps
from stepline.asl import validate
from stepline.sdk import jobs

GOLDEN = Path(__file__).parent / "golden"


def stepline_namespace() -> SimpleNamespace:
    names = [
        "Estimator",
        "TrainingInput",
        "Model",
        "Processor",
        "ProcessingInput",
        "ProcessingOutput",
        "Transformer",
        "HyperparameterTuner",
        "IntegerParameter",
        "ContinuousParameter",
        "CategoricalParameter",
    ]
    return SimpleNamespace(
        steps=steps,
        Graph=steps.Graph,
        ExecutionInput=steps.ExecutionInput,
        StepInput=steps.StepInput,
        session_kwargs={},
        **{n: getattr(jobs, n) for n in names},
    )


def _training_requests(definition: dict):
    for state in definition["States"].values():
        if state.get("Resource", "").startswith("arn:aws:states:::sagemaker:createTrainingJob"):
            yield state["Parameters"]
        if "createHyperParameterTuningJob" in state.get("Resource", ""):
            yield state["Parameters"]["TrainingJobDefinition"]


def deliberate(golden: dict, ours: dict) -> dict:
    """The golden with our documented improvements applied (see the module docstring)."""
    fixed = copy.deepcopy(golden)
    for gold, mine in zip(_training_requests(fixed), _training_requests(ours), strict=True):
        gold.pop("DebugHookConfig", None)
        for key in ("HyperParameters", "StaticHyperParameters"):
            if isinstance(gold.get(key), dict):
                gold[key] = {k: str(v) for k, v in gold[key].items()}
        if "Environment" in mine and "Environment" not in gold:
            gold["Environment"] = mine["Environment"]
    return fixed


@pytest.mark.parametrize("name", sorted(pipelines.PIPELINES))
def test_same_asl_as_the_data_science_sdk(name):
    ours = steps.Graph(pipelines.PIPELINES[name](stepline_namespace())).to_dict()
    golden = json.loads((GOLDEN / f"{name}.asl.json").read_text())
    assert ours == deliberate(golden, ours)
    assert validate(ours) == []


def test_the_deliberate_differences_are_exactly_those_documented():
    ours = steps.Graph(pipelines.seed(stepline_namespace())).to_dict()
    golden = json.loads((GOLDEN / "seed.asl.json").read_text())
    train_gold = golden["States"]["Train model"]["Parameters"]
    train_ours = ours["States"]["Train model"]["Parameters"]
    assert train_gold["HyperParameters"] == {"epochs": 10, "learning_rate": 0.05}
    assert train_ours["HyperParameters"] == {"epochs": "10", "learning_rate": "0.05"}
    assert "DebugHookConfig" in train_gold and "DebugHookConfig" not in train_ours
    rest_gold = {k: v for k, v in golden["States"].items() if k != "Train model"}
    rest_ours = {k: v for k, v in ours["States"].items() if k != "Train model"}
    assert rest_gold == rest_ours
