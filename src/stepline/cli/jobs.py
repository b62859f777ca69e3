"""``stepline jobs``: list, describe and follow SageMaker-style jobs of every kind (training,
processing, transform and hyperparameter tuning), through the SageMaker service layer."""

from __future__ import annotations

import sys

import typer

from stepline import sagemaker
from stepline.cli._common import emit_json, fmt_time, print_table

app = typer.Typer(no_args_is_help=True)

KIND_HELP = "training, processing, transform or tuning (needed only when several kinds share NAME)."


def _pick(name: str, kind: str | None) -> tuple[sagemaker.JobType, str]:
    found = [(t, n) for t, n in sagemaker.find_jobs(name) if kind is None or t.kind == kind]
    if not found:
        raise ValueError(f"no job named {name!r}" + (f" of kind {kind}" if kind else ""))
    if len(found) > 1:
        kinds = ", ".join(t.kind for t, _ in found)
        raise ValueError(f"several jobs are named {name!r} ({kinds}); pass --kind")
    return found[0]


@app.command("list")
def list_cmd(
    kind: str = typer.Option(None, "--kind", help="Only this kind of job."),
    limit: int = typer.Option(None, "--limit", help="At most this many (newest first)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List jobs, newest first."""
    found = sagemaker.job_overviews(kind, limit)
    if json_out:
        emit_json(found)
        return
    print_table(
        ("name", "kind", "status", "secondary", "created", "ended"),
        (
            (
                j["JobName"],
                j["Kind"],
                j["Status"],
                j["SecondaryStatus"],
                j["CreationTime"],
                j["EndTime"],
            )
            for j in found
        ),
        empty="no jobs",
    )


@app.command("describe")
def describe_cmd(
    name: str = typer.Argument(..., help="Job name or ARN."),
    kind: str = typer.Option(None, "--kind", help=KIND_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The Describe* response plus the local record (image digest, resources, argv...)."""
    job, found = _pick(name, kind)
    doc = job.describe(found)
    record = job.record(found)
    if record is None:  # a tuning job: its Describe response is the whole record
        _describe_tuning(doc, json_out)
        return
    local = job.local(record)
    if json_out:
        emit_json({**doc, "Local": local})
        return
    status_key = next(k for k in doc if k.endswith("JobStatus"))
    print(f"{record.kind} job {record.name}  {doc[status_key]}")
    print(f"  arn:        {record.arn}")
    if record.secondary_status:
        print(f"  secondary:  {record.secondary_status}")
    image = local.get("Image") or {}
    if image:
        print(f"  image:      {image.get('uri')} ({image.get('digest')})")
    print(f"  runtime:    {local.get('Runtime')} sandboxed={local.get('Sandboxed')}")
    if local.get("Resources"):
        res = local["Resources"]
        print(
            f"  resources:  {res['cpus']:g} CPUs, {res['memory_bytes'] / (1 << 30):.1f} GiB, "
            f"{res['gpus']} GPUs"
        )
    for note in local.get("ResourceNotes") or []:
        print(f"  note:       {note}")
    print(f"  created:    {fmt_time(doc.get('CreationTime'))}")
    if local.get("DurationSeconds") is not None:
        print(f"  duration:   {local['DurationSeconds']} s")
    argv = local.get("Argv") or []
    if argv:
        shown = argv[argv.index("--") + 1 :] if "--" in argv else argv
        print(f"  command:    {' '.join(shown)}")
    for item in local.get("Inputs") or []:
        print(f"  input:      {item['name']}  {item['uri']} -> {item['local_path']}")
    for item in local.get("Outputs") or []:
        print(f"  output:     {item['name']}  {item['uri']}")
    for metric in _final_metrics(local["Metrics"]):
        print(f"  metric:     {metric['MetricName']} = {metric['Value']:g}")
    if local.get("ExitCode") is not None:
        print(f"  exit code:  {local['ExitCode']}")
    if doc.get("FailureReason"):
        print(f"  failure:    {doc['FailureReason']}")
    if doc.get("ExitMessage"):
        print(f"  message:    {doc['ExitMessage']}")
    print(f"  folder:     {local['Folder']}")


@app.command("logs")
def logs_cmd(
    name: str = typer.Argument(..., help="Job name or ARN."),
    kind: str = typer.Option(None, "--kind", help=KIND_HELP),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing until the job ends."),
) -> None:
    """The job's stdout and stderr (kept after the job ends); a tuning job's driver log."""
    job, found = _pick(name, kind)
    for chunk in job.logs(found, follow):
        sys.stdout.write(chunk)
        sys.stdout.flush()


def _final_metrics(points: list[dict]) -> list[dict]:
    """The last value of each metric, in the order the metrics first appeared."""
    last: dict[str, dict] = {}
    for point in points:
        last[point["MetricName"]] = point
    return list(last.values())


def _describe_tuning(doc: dict, json_out: bool) -> None:
    if json_out:
        emit_json(doc)
        return
    name = doc["HyperParameterTuningJobName"]
    cfg = doc["HyperParameterTuningJobConfig"]
    print(f"tuning job {name}  {doc['HyperParameterTuningJobStatus']}")
    print(f"  arn:        {doc['HyperParameterTuningJobArn']}")
    objective = cfg.get("HyperParameterTuningJobObjective", {})
    print(f"  strategy:   {cfg['Strategy']}")
    if objective:
        print(f"  objective:  {objective['Type']} {objective['MetricName']}")
    counters = doc["TrainingJobStatusCounters"]
    print("  trials:     " + ", ".join(f"{k} {v}" for k, v in counters.items() if v))
    print(f"  created:    {fmt_time(doc.get('CreationTime'))}")
    best = doc.get("BestTrainingJob")
    if best:
        metric = best.get("FinalHyperParameterTuningJobObjectiveMetric", {})
        print(f"  best:       {best['TrainingJobName']} {metric.get('Value', '-')}")
        for key, value in best["TunedHyperParameters"].items():
            print(f"    {key} = {value}")
    if doc.get("FailureReason"):
        print(f"  failure:    {doc['FailureReason']}")
