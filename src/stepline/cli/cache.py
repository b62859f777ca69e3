"""``stepline cache``: why a job step did or did not reuse an earlier job's outputs."""

from __future__ import annotations

import typer

from stepline.cli._common import emit_json

app = typer.Typer(no_args_is_help=True)


@app.command()
def explain(
    job: str = typer.Argument(..., help="Job name."),
    kind: str | None = typer.Option(None, "--kind", help="training, processing or transform."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the job's cache key parts and, on a miss, what differed from the closest job."""
    from stepline import sagemaker

    kinds = [kind] if kind else [t.kind for t, _ in sagemaker.find_jobs(job) if t.has_records]
    if not kinds:
        raise ValueError(f"no job named {job!r}")
    if len(kinds) > 1:
        raise ValueError(f"several jobs are named {job!r} ({', '.join(kinds)}); add --kind")
    result = sagemaker.explain_cache(kinds[0], job)
    if as_json:
        emit_json(result)
        return
    if result["cached"]:
        typer.echo(f"{job}: cache HIT, reused the outputs of {result['source_job']}")
    else:
        typer.echo(f"{job}: cache miss: {result['reason']}")
    parts = result.get("parts") or {}
    if parts:
        typer.echo(f"  image: {parts.get('image')}")
        typer.echo(f"  code: {parts.get('code')}")
        for name, digest in (parts.get("inputs") or {}).items():
            typer.echo(f"  input {name}: {digest}")
        for name, digest in (parts.get("request") or {}).items():
            typer.echo(f"  request.{name}: {digest}")
