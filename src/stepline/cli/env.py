"""``stepline env``: the shell lines that point AWS's clients at this home's server.

``eval "$(stepline env)"`` and a notebook or script written for AWS (boto3, the AWS CLI, the
SageMaker Python SDK, the Step Functions Data Science SDK) runs against stepline unmodified.
"""

from __future__ import annotations

import shlex

import typer


def env(
    port: int | None = typer.Option(
        None, "--port", help="Server port (default: the running server's, else the configured)."
    ),
) -> None:
    """Print `export NAME=VALUE` lines for AWS_ENDPOINT_URL, credentials, region, the
    SageMaker SDK config, and the server as HTTPS proxy for AWS hosts (AWS_CA_BUNDLE)."""
    from stepline.awsapi.environment import client_environment

    for name, value in client_environment(port).items():
        typer.echo(f"export {name}={shlex.quote(value)}")
