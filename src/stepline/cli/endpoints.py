"""``stepline endpoints``: list, describe, invoke, logs, delete (hosted by the stepline server).

Everything goes through the SageMaker service layer (:mod:`stepline.sagemaker`), as the AWS
API and the Step Functions integrations do: the same validation, errors and shapes.
"""

from __future__ import annotations

import sys

import typer

from stepline import sagemaker
from stepline.cli._common import emit_json, print_table

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print ListEndpoints JSON.")) -> None:
    """Endpoints, newest first, with their status and address."""
    endpoints = sagemaker.list_all("ListEndpoints")
    if as_json:
        emit_json({"Endpoints": endpoints})
        return
    url = sagemaker.server_url()
    print_table(
        ("name", "status", "created", "invocation url"),
        (
            (
                ep["EndpointName"],
                ep["EndpointStatus"],
                ep["CreationTime"],
                f"{url}/endpoints/{ep['EndpointName']}/invocations" if url else "(server stopped)",
            )
            for ep in endpoints
        ),
        empty="no endpoints",
    )


@app.command()
def describe(
    name: str,
    as_json: bool = typer.Option(False, "--json", help="DescribeEndpoint JSON + InvocationUrl."),
) -> None:
    """DescribeEndpoint, plus the router address and per-variant counters."""
    desc = sagemaker.call("DescribeEndpoint", {"EndpointName": name})
    desc["InvocationUrl"] = sagemaker.invocation_url(name)
    stats = sagemaker.endpoint_stats(name)
    if as_json:
        emit_json(desc)
        return
    typer.echo(f"{desc['EndpointName']}  {desc['EndpointStatus']}  ({desc['EndpointConfigName']})")
    if desc.get("FailureReason"):
        typer.echo(f"  FailureReason: {desc['FailureReason']}")
    typer.echo(f"  InvocationUrl: {desc['InvocationUrl'] or '(server stopped)'}")
    for v in desc.get("ProductionVariants", []):
        typer.echo(
            f"  variant {v['VariantName']}: weight {v['CurrentWeight']:g}, "
            f"{v['CurrentInstanceCount']}/{v['DesiredInstanceCount']} instances"
        )
    for s in stats:
        typer.echo(
            f"  {s['VariantName']}: {s['Invocations']} invocations, {s['ModelErrors']} model "
            f"errors, {s['Errors']} errors, mean {s['MeanLatencyMs']} ms, "
            f"max {s['MaxLatencyMs']} ms"
        )


@app.command()
def invoke(
    name: str,
    body: str = typer.Option(..., "--body", help="Request body; @FILE reads a file."),
    content_type: str = typer.Option("application/json", "--content-type"),
    accept: str | None = typer.Option(None, "--accept"),
    custom_attributes: str | None = typer.Option(None, "--custom-attributes"),
    target_variant: str | None = typer.Option(None, "--target-variant"),
) -> None:
    """InvokeEndpoint through the router; prints the model's answer."""
    data = open(body[1:], "rb").read() if body.startswith("@") else body.encode()
    try:
        out = sagemaker.invoke_endpoint(
            name,
            data,
            content_type=content_type,
            accept=accept,
            custom_attributes=custom_attributes,
            target_variant=target_variant,
        )
    except sagemaker.InvokeError as exc:
        raise RuntimeError(f"{exc.code}: {exc.message}") from None
    sys.stdout.buffer.write(out["Body"])
    if not out["Body"].endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()


@app.command()
def logs(name: str) -> None:
    """The endpoint's events and its model servers' output."""
    typer.echo(sagemaker.endpoint_logs(name), nl=False)


@app.command()
def delete(
    name: str,
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until it is gone."),
) -> None:
    """DeleteEndpoint: stop its model servers and remove it."""
    sagemaker.call("DeleteEndpoint", {"EndpointName": name})
    gone = sagemaker.wait_endpoint_deleted(name, timeout=60 if wait else 0)
    typer.echo(f"deleted {name}" if gone else f"deleting {name}")
