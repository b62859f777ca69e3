"""The console's providers for the endpoints and models pages, over the SageMaker layer.

The console asks registered provider functions for DescribeEndpoint/DescribeModel-shaped
dicts; endpoints also carry ``Metrics`` (per-minute invocations, mean latency, errors) so the
page can chart them.  :func:`register` is idempotent and called when the console app starts.
They read through :mod:`stepline.sagemaker`, as the CLI and the AWS API do.
"""

from __future__ import annotations

from typing import Any

from stepline import sagemaker

_REGISTERED: list[Any] = []


def endpoints() -> list[dict[str, Any]]:
    """Every endpoint as DescribeEndpoint returns it, plus per-minute invocation metrics."""
    out = []
    for summary in sagemaker.list_all("ListEndpoints"):
        name = summary["EndpointName"]
        try:
            described = sagemaker.call("DescribeEndpoint", {"EndpointName": name})
        except sagemaker.SageMakerError:  # deleted between list and describe
            continue
        described["Metrics"] = sagemaker.endpoint_metrics(name)
        out.append(described)
    return out


def models() -> list[dict[str, Any]]:
    """Every model as DescribeModel returns it."""
    out = []
    for summary in sagemaker.list_all("ListModels"):
        try:
            out.append(sagemaker.call("DescribeModel", {"ModelName": summary["ModelName"]}))
        except sagemaker.SageMakerError:  # deleted between list and describe
            continue
    return out


def register() -> None:
    """Plug the providers into the console (once per process)."""
    if _REGISTERED:
        return
    from stepline.console.providers import register_endpoints, register_models

    _REGISTERED.extend([register_endpoints(endpoints), register_models(models)])
