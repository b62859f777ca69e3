"""Router overhead: InvokeEndpoint through the stepline router vs the model server directly.

Deploys the stdlib model server of ``tests/serving`` as an endpoint in a throwaway
``$STEPLINE_HOME``, then sends N sequential requests over one keep-alive connection to the
model server's port and N to ``/endpoints/NAME/invocations`` on the router, and prints p50,
p99 and the difference (the router's added latency).  Usage:
``python benchmarks/endpoint_overhead.py [N]`` (default 10000).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(port: int, path: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json"}
    for _ in range(200):  # warm-up
        conn.request("POST", path, b"3", headers)
        conn.getresponse().read()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("POST", path, b"3", headers)
        resp = conn.getresponse()
        resp.read()
        out.append((time.perf_counter() - t0) * 1000)
        assert resp.status == 200
    conn.close()
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    home = tempfile.mkdtemp(prefix="stepline-bench-")
    os.environ["STEPLINE_HOME"] = home
    os.environ.setdefault("STEPLINE_STORE", "local")
    sys.path.insert(0, str(ROOT / "tests" / "serving"))
    from serving_support import SERVE, make_config, make_model, put_model, wait_status

    from stepline import images
    from stepline.serving import api, server

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
    try:
        api.create_endpoint({"EndpointName": "bench", "EndpointConfigName": "bench"})
        desc = wait_status("bench", "InService")
        del desc
        row = api.endpoint_row("bench")
        model_port = row["variants"][0]["_instances"][0]["port"]
        router_port = server.server_info()["port"]
        # Interleave in blocks so drift (CPU frequency, other load) hits both sides alike.
        direct: list[float] = []
        routed: list[float] = []
        block = max(1, n // 10)
        for _ in range(n // block):
            direct += measure(model_port, "/invocations", block)
            routed += measure(router_port, "/endpoints/bench/invocations", block)
        d50, d99 = pct(direct, 0.50), pct(direct, 0.99)
        r50, r99 = pct(routed, 0.50), pct(routed, 0.99)
        result = {
            "requests": len(routed),
            "direct_p50_ms": round(d50, 3),
            "direct_p99_ms": round(d99, 3),
            "router_p50_ms": round(r50, 3),
            "router_p99_ms": round(r99, 3),
            "added_p50_ms": round(r50 - d50, 3),
            "added_p99_ms": round(r99 - d99, 3),
            "direct_mean_ms": round(statistics.mean(direct), 3),
            "router_mean_ms": round(statistics.mean(routed), 3),
        }
        print(f"requests: {len(routed)} each, sequential, keep-alive")
        print(f"direct to model server : p50 {d50:.3f} ms  p99 {d99:.3f} ms")
        print(f"through stepline router: p50 {r50:.3f} ms  p99 {r99:.3f} ms")
        print(f"router adds            : p50 {r50 - d50:.3f} ms  p99 {r99 - d99:.3f} ms")
        print(f"target < 1 ms added at p50: {'met' if r50 - d50 < 1.0 else 'NOT met'}")
        print(json.dumps(result))
    finally:
        server.stop_server()


if __name__ == "__main__":
    main()
