"""What AWS's wire protocols add: boto3 against ``stepline server`` vs the same call in-process.

In a throwaway ``$STEPLINE_HOME`` this starts the server (as ``stepline server --background``
does), then for each operation times N sequential calls with one boto3 client (one kept-alive
connection) and N of the same operation in this process, interleaved in blocks so drift hits
both sides alike, and prints p50/p99 of each and the difference (what the API adds: boto3's
own serialization and signing, HTTP, SigV4 verification, routing, the worker thread):

* PutObject 1 KiB and 64 MiB -- vs ``get_store().put_bytes``;
* InvokeEndpoint -- vs POST /invocations straight to the model server (the stdlib model
  server of ``tests/serving``);
* DescribeExecution -- vs the Step Functions service's ``call`` in-process.

Target: under 2 ms added at p50 for the small calls.  Usage:
``python benchmarks/aws_api_overhead.py [N]`` (default 500; the 64 MiB case runs N/50).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def compare(
    label: str, wire: Callable[[], object], local: Callable[[], object], n: int
) -> dict[str, float]:
    for _ in range(min(n, 20)):  # warm-up: connections, caches, model loading
        wire()
        local()
    wired: list[float] = []
    direct: list[float] = []
    block = max(1, n // 10)
    for _ in range(max(1, n // block)):
        direct += timed(local, block)
        wired += timed(wire, block)
    w50, w99, d50, d99 = pct(wired, 0.5), pct(wired, 0.99), pct(direct, 0.5), pct(direct, 0.99)
    print(
        f"{label:<24} in-process p50 {d50:8.3f} ms   boto3 p50 {w50:8.3f} ms   "
        f"added p50 {w50 - d50:7.3f} ms  p99 {w99 - d99:7.3f} ms  (n={len(wired)})"
    )
    return {
        "operation": label,
        "calls": len(wired),
        "in_process_p50_ms": round(d50, 3),
        "boto3_p50_ms": round(w50, 3),
        "added_p50_ms": round(w50 - d50, 3),
        "added_p99_ms": round(w99 - d99, 3),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    home = tempfile.mkdtemp(prefix="stepline-aws-bench-")
    os.environ["STEPLINE_HOME"] = home
    os.environ["STEPLINE_STORE"] = "local"
    os.environ.pop("STEPLINE_SERVER_PORT", None)
    sys.path.insert(0, str(ROOT / "tests" / "serving"))
    import boto3
    from botocore.config import Config
    from serving_support import SERVE, make_config, make_model, put_model, wait_status

    from stepline import images
    from stepline.awsapi import credentials
    from stepline.serving import api, server
    from stepline.storage import get_store

    results = []
    try:
        port = server.ensure_server(port=0)
        key, secret = credentials()
        session = boto3.session.Session()

        def client(name: str) -> object:
            return session.client(
                name,
                endpoint_url=f"http://127.0.0.1:{port}",
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                region_name="us-east-1",
                config=Config(retries={"max_attempts": 1}),
            )

        s3 = client("s3")
        s3.create_bucket(Bucket="bench")
        store = get_store()
        small = os.urandom(1024)
        results.append(
            compare(
                "PutObject 1 KiB",
                lambda: s3.put_object(Bucket="bench", Key="small", Body=small),
                lambda: store.put_bytes("s3://bench/small-local", small),
                n,
            )
        )
        big = os.urandom(64 * 1024 * 1024)
        results.append(
            compare(
                "PutObject 64 MiB",
                lambda: s3.put_object(Bucket="bench", Key="big", Body=big),
                lambda: store.put_bytes("s3://bench/big-local", big),
                max(3, n // 50),
            )
        )

        # InvokeEndpoint: the stdlib model server as an endpoint.
        ctx = Path(home) / "ctx"
        ctx.mkdir()
        (ctx / "serve.py").write_text(SERVE)
        (ctx / "Dockerfile").write_text(
            "FROM python:3.11\nCOPY serve.py /opt/program/\n"
            'ENTRYPOINT ["python", "/opt/program/serve.py"]\n'
        )
        images.build(ctx, "linear-serve:1")
        put_model("s3://models/bench/model.tar.gz", {"w": 2, "b": 1})
        make_model("bench", "linear-serve:1", "s3://models/bench/model.tar.gz")
        make_config("bench", [("AllTraffic", "bench", 1.0)])
        api.create_endpoint({"EndpointName": "bench", "EndpointConfigName": "bench"})
        wait_status("bench", "InService")
        model_port = api.endpoint_row("bench")["variants"][0]["_instances"][0]["port"]
        runtime = client("sagemaker-runtime")
        conn = http.client.HTTPConnection("127.0.0.1", model_port)

        def direct_invoke() -> bytes:
            conn.request("POST", "/invocations", b"3", {"Content-Type": "application/json"})
            return conn.getresponse().read()

        results.append(
            compare(
                "InvokeEndpoint",
                lambda: runtime.invoke_endpoint(
                    EndpointName="bench", Body=b"3", ContentType="application/json"
                )["Body"].read(),
                direct_invoke,
                n,
            )
        )

        try:
            from stepline.awsapi import stepfunctions
        except ImportError:
            stepfunctions = None  # type: ignore[assignment]
        if stepfunctions is not None:
            sfn = client("stepfunctions")
            machine = sfn.create_state_machine(
                name="bench",
                definition=json.dumps(
                    {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
                ),
                roleArn="arn:aws:iam::000000000000:role/StepLineExecutionRole",
            )["stateMachineArn"]
            arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
            results.append(
                compare(
                    "DescribeExecution",
                    lambda: sfn.describe_execution(executionArn=arn),
                    lambda: stepfunctions.SERVICE.call("DescribeExecution", {"executionArn": arn}),
                    n,
                )
            )
        small_ok = all(
            r["added_p50_ms"] < 2.0 for r in results if r["operation"] != "PutObject 64 MiB"
        )
        print(f"target < 2 ms added at p50 for small calls: {'met' if small_ok else 'NOT met'}")
        print(json.dumps(results))
    finally:
        try:
            api.delete_endpoint("bench")
        except Exception:  # noqa: BLE001 - best effort before stopping the server
            pass
        server.stop_server()


if __name__ == "__main__":
    main()
