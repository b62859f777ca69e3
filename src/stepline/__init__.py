"""stepline: local-first ML pipelines in the shape of AWS Step Functions + SageMaker.

The packages are layers, listed top to bottom in :mod:`stepline.layers` and nowhere else
(the README's line is generated from it, and ``tests/test_layers.py`` checks every import
against it), so this docstring does not repeat them.

This module is the composition root: it registers the default task port (the
integrations) in :mod:`stepline.wiring`, so ``stepline.asl.execute`` and ``Engine()`` run
Task states against them without the lower layers importing the upper ones.
"""

from typing import Any

from stepline import wiring

__version__ = "0.1.0"


def _default_task_port(**options: Any) -> Any:
    # Imported on first use: ``import stepline`` stays cheap, and only the root knows it.
    from stepline.integrations import default_task_port

    return default_task_port(**options)


def _check_transform(request: dict[str, Any]) -> None:
    from stepline.serving.transform import check_transform_request

    check_transform_request(request)


def _run_transform(name: str) -> None:
    from stepline.serving.transform import run_transform_job

    run_transform_job(name)


def _job_environment() -> dict[str, str]:
    from stepline.awsapi.environment import client_environment

    env = client_environment(proxy=False)
    env.pop("SAGEMAKER_USER_CONFIG_OVERRIDE", None)  # a host path the sandbox does not show
    return env


def _transform_support() -> Any:
    # What the Ray runtime needs of batch transform on a node: the model a job names and
    # the run that feeds a model server this instance's share of the records.
    from types import SimpleNamespace

    from stepline.serving import api, transform

    return SimpleNamespace(
        model_request=api.model_request,
        primary_container=api.primary_container,
        TransformRun=transform.TransformRun,
    )


def _aws_gateway() -> Any:
    from stepline.awsapi.gateway import Gateway

    return Gateway()


wiring.register_task_port_factory(_default_task_port)
# Batch transform is a job kind whose work the serving layer does (a model server fed with
# records), and job code reaches the AWS API: both sit above the jobs layer.  The AWS API
# shares the endpoints server's port, and sits above the serving layer too.
wiring.register_job_runner("transform", check=_check_transform, run=_run_transform)
wiring.register_job_environment(_job_environment)
wiring.register_gateway_factory(_aws_gateway)
wiring.register_provider("transform", _transform_support)
