"""Regenerate the golden ASL files in ``tests/sdk/golden/`` with AWS's Data Science SDK.

Why: stepline's SDK promises that a Data Science SDK script ports by changing imports.  The
goldens are what AWS's own ``stepfunctions==2.3.0`` renders for a handful of pipelines, built
offline (fake credentials, explicit region and bucket, ``output_path`` always set, code already
"in S3"), so the tests in ``tests/sdk/test_golden.py`` can compare stepline's rendering with
AWS's without the package being importable at test time.

Run it in an environment with ``pip install "stepfunctions==2.3.0" "sagemaker<3"``::

    SAGEMAKER_SUPPRESS_V2_WARNING=1 python scripts/make_dssdk_golden.py

Each pipeline is built by a function that takes the module namespace it builds with, so the
test can run the very same function against stepline's modules.  The builders live in
``tests/sdk/pipelines.py``; this script only supplies AWS's modules and writes JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "sdk" / "golden"
REGION = "us-east-1"


def dssdk_namespace() -> SimpleNamespace:
    """The Data Science SDK's classes, wired to an offline SageMaker session."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    import boto3
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.model import Model
    from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
    from sagemaker.transformer import Transformer
    from sagemaker.tuner import (
        CategoricalParameter,
        ContinuousParameter,
        HyperparameterTuner,
        IntegerParameter,
    )
    from stepfunctions import steps
    from stepfunctions.inputs import ExecutionInput, StepInput
    from stepfunctions.steps.states import Graph

    import sagemaker

    boto = boto3.Session(
        aws_access_key_id="AKIAFAKEFAKEFAKEFAKE",
        aws_secret_access_key="fake",
        region_name=REGION,
    )
    session = sagemaker.session.Session(boto_session=boto, default_bucket="bucket")
    return SimpleNamespace(
        steps=steps,
        Graph=Graph,
        ExecutionInput=ExecutionInput,
        StepInput=StepInput,
        Estimator=Estimator,
        TrainingInput=TrainingInput,
        Model=Model,
        Processor=Processor,
        ProcessingInput=ProcessingInput,
        ProcessingOutput=ProcessingOutput,
        Transformer=Transformer,
        HyperparameterTuner=HyperparameterTuner,
        IntegerParameter=IntegerParameter,
        ContinuousParameter=ContinuousParameter,
        CategoricalParameter=CategoricalParameter,
        session_kwargs={"sagemaker_session": session},
    )


def main() -> int:
    sys.path.insert(0, str(ROOT / "tests" / "sdk"))
    import pipelines

    ns = dssdk_namespace()
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, build in pipelines.PIPELINES.items():
        definition = ns.Graph(build(ns)).to_dict()
        path = GOLDEN / f"{name}.asl.json"
        path.write_text(json.dumps(definition, indent=2) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
