"""Batch transform: run a model's server over every object under an S3 prefix.

The contract (``shared/design/sagemaker-contract.md`` 3.2): the model's image runs with
``serve`` (``SAGEMAKER_BATCH=true`` and the batch variables), ``GET /execution-parameters``
may supply ``BatchStrategy``/``MaxPayloadInMB``/``MaxConcurrentTransforms`` (request values
win, then these, then the defaults), each input object is split (``None``/``Line``/
``RecordIO``), packed into mini-batches (``SingleRecord``/``MultiRecord`` within
``MaxPayloadInMB``; never across objects), sent to ``/invocations`` with up to
``MaxConcurrentTransforms`` requests at once, and the answers assembled in record order into
``<S3OutputPath>/<relative input path>.out`` -- written only when the whole object
succeeded.  Any failed object fails the job (the others still get their output).

Who runs it: :func:`run_transform_job` takes a ``transform`` job record (the jobs layer's
records) from ``InProgress`` to ``Completed``/``Failed``; the jobs layer's detached
supervisor calls it, so a transform outlives its caller like any other job.
"""

from __future__ import annotations

import gzip
import http.client
import json
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stepline.errors import ValidationException
from stepline.jobs import records
from stepline.jobs.records import JobRecord
from stepline.serving import api, dataproc
from stepline.serving.artifacts import fetch_model
from stepline.serving.host import InstanceSpec, ModelInstance
from stepline.storage import get_store, parse_s3_uri, s3_uri

RECORDIO_MAGIC = 0xCED7230A
DEFAULTS = {"BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6, "MaxConcurrentTransforms": 1}
_ENV_STRATEGY = {"SingleRecord": "SINGLE_RECORD", "MultiRecord": "MULTI_RECORD"}


class TransformError(Exception):
    """One input object could not be transformed."""


# -- splitting and batching -----------------------------------------------------------------


def split_records(data: bytes, split_type: str) -> list[bytes]:
    """The records of one object (``None``: the whole object is one record)."""
    if split_type in (None, "None"):
        return [data] if data else []
    if split_type == "Line":
        return [line for line in data.splitlines(keepends=True) if line.strip()]
    if split_type == "RecordIO":
        out, pos = [], 0
        while pos < len(data):
            if len(data) - pos < 8:
                raise TransformError("truncated RecordIO header")
            magic, lrec = struct.unpack_from("<II", data, pos)
            if magic != RECORDIO_MAGIC:
                raise TransformError(f"bad RecordIO magic at byte {pos}")
            length = lrec & ((1 << 29) - 1)
            padded = (length + 3) // 4 * 4
            out.append(data[pos : pos + 8 + padded])
            pos += 8 + padded
        return out
    raise TransformError(f"SplitType {split_type} is not supported")


def strip_padding(record: bytes) -> bytes:
    """A RecordIO record without its trailing padding (SingleRecord sends it so)."""
    length = struct.unpack_from("<I", record, 4)[0] & ((1 << 29) - 1)
    return record[: 8 + length]


def batches(records_: list[bytes], strategy: str, max_bytes: int) -> list[list[bytes]]:
    """Mini-batches: one record each, or as many as fit in ``max_bytes`` (0: no limit)."""
    if strategy == "SingleRecord":
        return [[r] for r in records_]
    out: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for rec in records_:
        if current and max_bytes and size + len(rec) > max_bytes:
            out.append(current)
            current, size = [], 0
        current.append(rec)
        size += len(rec)
    if current:
        out.append(current)
    return out


# -- the job -----------------------------------------------------------------------------


def _relative(prefix_key: str, key: str) -> str:
    base = prefix_key.rsplit("/", 1)[0] + "/" if "/" in prefix_key else ""
    return key[len(base) :]


def _inputs(store: Any, data_source: dict[str, Any]) -> list[tuple[str, str]]:
    """``(uri, relative path)`` of every input object."""
    s3 = data_source["S3DataSource"]
    uri = s3["S3Uri"]
    bucket, key = parse_s3_uri(uri, allow_prefix=True)
    if s3.get("S3DataType") == "ManifestFile":
        manifest = json.loads(store.get_bytes(uri))
        prefix = manifest[0]["prefix"]
        pbucket, pkey = parse_s3_uri(prefix, allow_prefix=True)
        return [(prefix + rel, _relative(pkey, pkey + rel)) for rel in manifest[1:]]
    out = []
    for info in store.list(uri):
        if info.key.endswith("/"):
            continue
        out.append((s3_uri(bucket, info.key), _relative(key, info.key)))
    return sorted(out)


def _post(port: int, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/invocations", body, headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def execution_parameters(port: int) -> dict[str, Any]:
    """``GET /execution-parameters`` (an empty dict when the server has none)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/execution-parameters")
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            return {}
        params = json.loads(data or b"{}")
        return params if isinstance(params, dict) else {}
    except (OSError, ValueError, http.client.HTTPException):
        return {}
    finally:
        conn.close()


def _normalise_strategy(value: Any) -> str | None:
    if value in ("SingleRecord", "SINGLE_RECORD"):
        return "SingleRecord"
    if value in ("MultiRecord", "MULTI_RECORD"):
        return "MultiRecord"
    return None


class TransformRun:
    """One transform job's run against one model server."""

    def __init__(
        self,
        record: JobRecord,
        model: dict[str, Any] | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.record = record
        self.req = record.request
        self.store = get_store()
        self.log = record.log_path
        #: The model's CreateModel request (looked up when None; a Ray node is handed it).
        self.model = model
        #: (index, count): this instance's share of the input objects (InstanceCount > 1).
        self.shard = shard

    def say(self, text: str) -> None:
        with open(self.log, "a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [transform] {text}\n")

    def run(self) -> tuple[bool, str | None]:
        req = self.req
        model = self.model or api.model_request(req["ModelName"])
        container = api.primary_container(model)
        model_dir = fetch_model(req["ModelName"], container, self.store)
        env = dict(container.get("Environment", {}))
        env.update(req.get("Environment", {}))
        env["SAGEMAKER_BATCH"] = "true"
        for key, var in (
            ("MaxPayloadInMB", "SAGEMAKER_MAX_PAYLOAD_IN_MB"),
            ("MaxConcurrentTransforms", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"),
        ):
            if req.get(key):
                env[var] = str(req[key])
        if req.get("BatchStrategy"):
            env["SAGEMAKER_BATCH_STRATEGY"] = _ENV_STRATEGY[req["BatchStrategy"]]
        spec = InstanceSpec(
            endpoint=f"transform-{self.record.name}",
            variant="transform",
            model_name=req["ModelName"],
            image_ref=container["Image"],
            model_dir=model_dir,
            environment=env,
            instance_type=req["TransformResources"]["InstanceType"],
            folder=self.record.folder,
            startup_timeout=600.0,
            network=not model.get("EnableNetworkIsolation", False),
        )
        instance = ModelInstance(spec, 1)
        instance.log_path = self.log
        instance.start()
        try:
            problem = instance.wait_healthy()
            if problem is not None:
                return False, f"ClientError: {problem}. {instance.last_log()}"[:1024]
            return self.transform_all(instance.port)
        finally:
            instance.stop(grace=5)

    def transform_all(self, port: int) -> tuple[bool, str | None]:
        req = self.req
        params = execution_parameters(port)
        strategy = (
            req.get("BatchStrategy")
            or _normalise_strategy(params.get("BatchStrategy"))
            or DEFAULTS["BatchStrategy"]
        )
        payload_mb = req.get("MaxPayloadInMB", params.get("MaxPayloadInMB", 6))
        concurrency = (
            req.get("MaxConcurrentTransforms") or params.get("MaxConcurrentTransforms") or 1
        )
        self.say(
            f"BatchStrategy={strategy} MaxPayloadInMB={payload_mb} "
            f"MaxConcurrentTransforms={concurrency} execution-parameters={params}"
        )
        tin = req["TransformInput"]
        tout = req["TransformOutput"]
        split = tin.get("SplitType", "None")
        if split == "None":
            strategy = "MultiRecord"  # one request per object
        headers = {}
        if tin.get("ContentType"):
            headers["Content-Type"] = tin["ContentType"]
        if tout.get("Accept"):
            headers["Accept"] = tout["Accept"]
        client = req.get("ModelClientConfig", {})
        timeout = float(client.get("InvocationsTimeoutInSeconds", 600))
        retries = int(client.get("InvocationsMaxRetries", 3))
        failed: list[str] = []
        out_prefix = tout["S3OutputPath"].rstrip("/")
        with ThreadPoolExecutor(max_workers=int(concurrency)) as pool:
            index, count = self.shard
            for uri, rel in _inputs(self.store, tin["DataSource"])[index::count]:
                try:
                    data = self.store.get_bytes(uri)
                    if tin.get("CompressionType") == "Gzip":
                        data = gzip.decompress(data)
                    output = self.transform_object(
                        pool,
                        port,
                        data,
                        split,
                        strategy,
                        int(payload_mb) * 1024 * 1024,
                        headers,
                        timeout,
                        retries,
                    )
                except (TransformError, dataproc.FilterError, ValueError, OSError) as exc:
                    failed.append(f"{rel}: {exc}")
                    self.say(f"FAILED {uri}: {exc}")
                    continue
                target = f"{out_prefix}/{rel}.out"
                self.store.put_bytes(target, output, tout.get("Accept"))
                self.say(f"{uri} -> {target} ({len(output)} bytes)")
        if failed:
            return False, ("ClientError: " + "; ".join(failed))[:1024]
        return True, None

    def transform_object(
        self,
        pool: ThreadPoolExecutor,
        port: int,
        data: bytes,
        split: str,
        strategy: str,
        max_bytes: int,
        headers: dict[str, str],
        timeout: float,
        retries: int,
    ) -> bytes:
        dp = self.req.get("DataProcessing", {})
        csv_mode = dataproc.is_csv(self.req["TransformInput"].get("ContentType"))
        in_filter, out_filter = dp.get("InputFilter"), dp.get("OutputFilter")
        joining = dp.get("JoinSource") == "Input"
        processing = joining or (in_filter not in (None, "$")) or (out_filter not in (None, "$"))
        recs = split_records(data, split)
        sources: list[Any] = []
        if processing:
            sources = [dataproc.decode(r, csv_mode) for r in recs]
            sent = [
                dataproc.encode(dataproc.apply(in_filter, s), csv_mode) + b"\n" for s in sources
            ]
        elif split == "RecordIO" and strategy == "SingleRecord":
            sent = [strip_padding(r) for r in recs]
        else:
            sent = recs
        groups = batches(sent, strategy, max_bytes)

        def call(batch: list[bytes]) -> bytes:
            body = b"".join(batch)
            if max_bytes and len(body) > max_bytes:
                raise TransformError(
                    f"a record of {len(body)} bytes exceeds MaxPayloadInMB ({max_bytes} bytes)"
                )
            last = ""
            for _attempt in range(retries + 1):
                try:
                    status, answer = _post(port, body, headers, timeout)
                except (OSError, http.client.HTTPException) as exc:
                    last = f"request failed: {exc}"
                    continue
                if status == 200:
                    return answer
                last = f"the model answered {status}: {answer[:200].decode('utf-8', 'replace')}"
                if status < 500:
                    break
            raise TransformError(last)

        answers = list(pool.map(call, groups))
        assemble_line = self.req["TransformOutput"].get("AssembleWith") == "Line"
        if not processing:
            if assemble_line:
                return b"".join(a.rstrip(b"\n") + b"\n" for a in answers)
            return b"".join(answers)
        # Per-record outputs: a MultiRecord answer has one line per record sent.
        outputs: list[bytes] = []
        for batch, answer in zip(groups, answers, strict=True):
            lines = [ln for ln in answer.splitlines() if ln.strip()] if len(batch) > 1 else [answer]
            if len(lines) != len(batch):
                raise TransformError(
                    f"the model answered {len(lines)} lines for {len(batch)} records; "
                    "JoinSource/OutputFilter need one line per record"
                )
            outputs.extend(lines)
        results = []
        for source, answer in zip(sources, outputs, strict=True):
            value = dataproc.decode(answer, csv_mode)
            if joining:
                value = dataproc.join(source, value, csv_mode)
            results.append(dataproc.encode(dataproc.apply(out_filter, value), csv_mode))
        sep = b"\n" if assemble_line else b""
        return b"".join(r + sep for r in results)


def run_transform_job(name: str) -> JobRecord:
    """Run the recorded ``transform`` job ``name`` to its end; the final record.

    For the jobs supervisor: call it for ``kind == "transform"`` instead of a runtime run.
    """
    record = records.get("transform", name)
    if record is None:
        raise KeyError(f"no transform job {name!r}")
    if record.terminal:
        return record
    record.folder.mkdir(parents=True, exist_ok=True)
    records.update("transform", name, started=time.time(), secondary_status="InProgress")
    try:
        ok, reason = TransformRun(record).run()
    except Exception as exc:  # noqa: BLE001 - any failure becomes the job's FailureReason
        ok, reason = False, f"ClientError: {exc}"[:1024]
    if ok:
        return records.update(
            "transform", name, status="Completed", secondary_status="Completed", ended=time.time()
        )
    return records.update(
        "transform",
        name,
        status="Failed",
        secondary_status="Failed",
        ended=time.time(),
        state={"failure_reason": reason},
    )


def check_transform_request(req: dict[str, Any]) -> None:
    """SageMaker's rules beyond the shape: the model exists, payload x concurrency <= 100."""
    api.model_request(req["ModelName"])  # ValidationException when the model is unknown
    if req.get("MaxPayloadInMB") is not None and req.get("MaxConcurrentTransforms"):
        if req["MaxPayloadInMB"] * req["MaxConcurrentTransforms"] > 100:
            raise ValidationException(
                "MaxConcurrentTransforms * MaxPayloadInMB must not exceed 100"
            )


def create_transform_job(request: dict[str, Any], *, token: str | None = None) -> dict[str, str]:
    """CreateTransformJob: the jobs layer records it and its supervisor calls
    :func:`run_transform_job` (one way in, one record, one supervisor per job)."""
    from stepline.jobs import create_job

    return create_job("transform", request, token=token)
