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

Target: under 2 ms added at p50 for small calls.  Usage:
``python benchmarks/aws_api_overhead.py [N]`` (default 500; the 64 MiB case runs N/50).

Wall-clock figures on a busy shared machine measure the scheduler as much as the code (the
server waits for a CPU between the event loop and its worker thread), so each line also
prints the CPU time the wire adds per call, which load changes less: this process's
(boto3 serializing, signing, parsing) plus the server process's (read from its CPU clock),
minus the in-process call's, less the server's idle rate over the same time.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


def process_cpu_clock(pid: int) -> Callable[[], float]:
    """Seconds of CPU another process has used (its POSIX CPU-time clock, ns resolution)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    clock = ctypes.c_int()
    if libc.clock_getcpuclockid(pid, ctypes.byref(clock)) != 0:
        raise OSError(ctypes.get_errno(), f"no CPU clock for process {pid}")
    return lambda: time.clock_gettime(clock.value)


#: The server's CPU clock (set in main once the server runs).
SERVER_CPU: Callable[[], float] = lambda: 0.0  # noqa: E731


def compare(
    label: str,
    wire: Callable[[], object],
    local: Callable[[], object],
    n: int,
    raw: Callable[[], object] | None = None,
) -> dict[str, float]:
    """p50s of boto3 (``wire``), the same signed bytes over raw HTTP (``raw``: the server's
    share), and the operation in-process (``local``)."""
    sides = {"local": local, "wire": wire, **({"raw": raw} if raw else {})}
    for _ in range(min(n, 20)):  # warm-up: connections, caches, model loading
        for fn in sides.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in sides}
    cpu = {k: [0.0, 0.0, 0.0] for k in sides}  # client CPU, server CPU, wall (seconds)
    block = max(1, n // 10)
    for _ in range(max(1, n // block)):
        for name, fn in sides.items():
            c0, s0, w0 = time.process_time(), SERVER_CPU(), time.perf_counter()
            times[name] += timed(fn, block)
            cpu[name][0] += time.process_time() - c0
            cpu[name][1] += SERVER_CPU() - s0
            cpu[name][2] += time.perf_counter() - w0
    calls = len(times["wire"])
    idle_rate = cpu["local"][1] / cpu["local"][2]  # the server's CPU while it is not called

    def cpu_ms(side: str) -> tuple[float, float]:
        client, server, wall = cpu[side]
        return client / calls * 1000, max(server - idle_rate * wall, 0.0) / calls * 1000

    local_cpu = cpu_ms("local")[0]
    wire_client, wire_server = cpu_ms("wire")
    p50 = {k: pct(v, 0.5) for k, v in times.items()}
    p99 = {k: pct(v, 0.99) for k, v in times.items()}
    server_part = f"   server adds p50 {p50['raw'] - p50['local']:7.3f} ms" if raw else ""
    added_cpu = wire_client + wire_server - local_cpu
    print(
        f"{label:<18} in-process p50 {p50['local']:8.3f} ms   boto3 p50 {p50['wire']:8.3f} ms"
        f"   added p50 {p50['wire'] - p50['local']:7.3f} ms  p99 "
        f"{p99['wire'] - p99['local']:7.3f} ms{server_part}  (n={len(times['wire'])})\n"
        f"{'':<18} CPU added per call {added_cpu:7.3f} ms (boto3 {wire_client:.3f} + server "
        f"{wire_server:.3f} - in-process {local_cpu:.3f})"
    )
    out = {
        "operation": label,
        "calls": len(times["wire"]),
        "in_process_p50_ms": round(p50["local"], 3),
        "boto3_p50_ms": round(p50["wire"], 3),
        "added_p50_ms": round(p50["wire"] - p50["local"], 3),
        "added_p99_ms": round(p99["wire"] - p99["local"], 3),
        "cpu_added_ms": round(added_cpu, 3),
        "cpu_boto3_ms": round(wire_client, 3),
        "cpu_server_ms": round(wire_server, 3),
        "cpu_in_process_ms": round(local_cpu, 3),
    }
    if raw:
        out["raw_http_p50_ms"] = round(p50["raw"], 3)
        out["server_added_p50_ms"] = round(p50["raw"] - p50["local"], 3)
    return out


def replayer(client: Any, call: Callable[[], object], port: int) -> Callable[[], object]:
    """The exact signed request boto3 sends for ``call()``, replayed over one raw keep-alive
    connection: what the server adds without boto3's own client-side work (signatures stay
    valid for 15 minutes)."""
    captured: list[Any] = []

    def grab(request: Any, **_: Any) -> None:
        captured.append(request)

    client.meta.events.register("before-send", grab)
    try:
        call()
    finally:
        client.meta.events.unregister("before-send", grab)
    req = captured[-1]
    parts = urlsplit(req.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    body = req.body
    if hasattr(body, "read"):
        body.seek(0)
        body = body.read()
    elif isinstance(body, str):
        body = body.encode()
    headers = {k: v for k, v in req.headers.items() if k.lower() != "expect"}
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send() -> bytes:
        conn.request(req.method, path, body or b"", headers)
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status < 300, (resp.status, data[:200])
        return data

    return send


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
        port = server.ensure_server(timeout=120, port=0)  # a busy machine starts it slowly
        global SERVER_CPU
        SERVER_CPU = process_cpu_clock(int(server.server_info()["pid"]))
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
        put_small = lambda: s3.put_object(Bucket="bench", Key="small", Body=small)  # noqa: E731
        results.append(
            compare(
                "PutObject 1 KiB",
                put_small,
                lambda: store.put_bytes("s3://bench/small-local", small),
                n,
                replayer(s3, put_small, port),
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

        def invoke() -> bytes:
            return runtime.invoke_endpoint(
                EndpointName="bench", Body=b"3", ContentType="application/json"
            )["Body"].read()

        results.append(
            compare("InvokeEndpoint", invoke, direct_invoke, n, replayer(runtime, invoke, port))
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

            def describe() -> object:
                return sfn.describe_execution(executionArn=arn)

            results.append(
                compare(
                    "DescribeExecution",
                    describe,
                    lambda: stepfunctions.SERVICE.call("DescribeExecution", {"executionArn": arn}),
                    n,
                    replayer(sfn, describe, port),
                )
            )
        small_calls = [r for r in results if r["operation"] != "PutObject 64 MiB"]
        wall_ok = all(r["added_p50_ms"] < 2.0 for r in small_calls)
        cpu_ok = all(r["cpu_added_ms"] < 2.0 for r in small_calls)
        print(
            f"target < 2 ms added for small calls: wall p50 {'met' if wall_ok else 'NOT met'}, "
            f"CPU {'met' if cpu_ok else 'NOT met'} (load average {os.getloadavg()[0]:.1f})"
        )
        print(json.dumps(results))
    finally:
        try:
            api.delete_endpoint("bench")
        except Exception:  # noqa: BLE001 - best effort before stopping the server
            pass
        server.stop_server()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
