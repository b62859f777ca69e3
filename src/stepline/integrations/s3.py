"""S3 resources over the object store: Map's ItemReader/ResultWriter and plain S3 tasks.

``arn:aws:states:::s3:getObject``, ``s3:listObjectsV2`` and ``s3:putObject`` behave as the
Step Functions optimized/AWS SDK integrations do, on whichever store is configured (the
embedded one by default).  Distributed Map hands its ItemReader and ResultWriter requests
here wrapped as ``{"ItemReader": ...}`` / ``{"ResultWriter": ...}``.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

from stepline.asl.errors import StatesError
from stepline.asl.program import TaskRequest
from stepline.integrations._params import object_params

_OPS = ("getObject", "listObjectsV2", "putObject")


def _store() -> Any:
    from stepline.storage import get_store

    return get_store()


def _uri(bucket: str, key: str) -> str:
    from stepline.storage import s3_uri

    return s3_uri(bucket, key)


def _fail(name: str, cause: str) -> StatesError:
    return StatesError(name, cause, in_state=False)


class S3Integration:
    """Reads and writes objects for S3 Task resources."""

    #: The resources it runs, for the router's error on an unknown one.
    family = "arn:aws:states:::s3:* and arn:aws:states:::aws-sdk:s3:*"

    def matches(self, resource: str) -> bool:
        for prefix in (":states:::s3:", ":states:::aws-sdk:s3:"):
            if prefix in resource:
                return resource.split(prefix, 1)[1].split(".")[0] in _OPS
        return False

    def invoke(self, request: TaskRequest) -> Any:
        from stepline.storage import StorageError

        op = request.resource.rsplit(":", 1)[1].split(".")[0]
        params = object_params(request)
        try:
            if "ItemReader" in params:
                return self.read_items(op, params["ItemReader"])
            if "ResultWriter" in params:
                return self.write_results(params["ResultWriter"], request)
            return self.plain(op, params)
        except StorageError as exc:
            raise _fail("S3.S3Exception", str(exc)) from None

    # -- plain tasks -----------------------------------------------------------------------
    def plain(self, op: str, params: dict) -> Any:
        store = _store()
        bucket = params.get("Bucket")
        if not bucket:
            raise _fail("S3.S3Exception", f"{op} needs a Bucket parameter")
        if op == "getObject":
            body = store.get_bytes(_uri(bucket, params["Key"]))
            info = store.head(_uri(bucket, params["Key"]))
            return {
                "Body": body.decode("utf-8", errors="replace"),
                "ContentLength": info.size,
                "ETag": f'"{info.etag}"',
                "ContentType": info.content_type,
            }
        if op == "putObject":
            body = params.get("Body", "")
            data = body if isinstance(body, str) else json.dumps(body)
            info = store.put_bytes(_uri(bucket, params["Key"]), data.encode())
            return {"ETag": f'"{info.etag}"'}
        return {"Contents": self._listing(bucket, params.get("Prefix", "")), "Name": bucket}

    def _listing(self, bucket: str, prefix: str) -> list[dict]:
        return [
            {
                "Key": o.key,
                "Size": o.size,
                "Etag": f'"{o.etag}"',
                "LastModified": o.last_modified.isoformat() if o.last_modified else None,
                "StorageClass": "STANDARD",
            }
            for o in _store().list(_uri(bucket, prefix))
        ]

    # -- distributed Map -------------------------------------------------------------------
    def read_items(self, op: str, spec: dict) -> list:
        params = spec.get("Parameters") or {}
        config = spec.get("ReaderConfig") or {}
        bucket = params.get("Bucket")
        if not bucket:
            raise _fail("States.ItemReaderFailed", "ItemReader Parameters need a Bucket")
        if op == "listObjectsV2":
            items: list = self._listing(bucket, params.get("Prefix", ""))
        else:
            text = _store().get_bytes(_uri(bucket, params["Key"])).decode("utf-8")
            items = self._parse(text, config)
        limit = config.get("MaxItems")
        return items[: int(limit)] if limit else items

    @staticmethod
    def _parse(text: str, config: dict) -> list:
        kind = config.get("InputType", "JSON")
        if kind == "JSON":
            data = json.loads(text)
            if not isinstance(data, list):
                raise _fail("States.ItemReaderFailed", "the JSON object is not an array")
            return data
        if kind == "JSONL":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        if kind == "CSV":
            delimiter = {
                "COMMA": ",",
                "PIPE": "|",
                "SEMICOLON": ";",
                "SPACE": " ",
                "TAB": "\t",
            }.get(config.get("CSVDelimiter", "COMMA"), ",")
            rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
            if config.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
                headers = config.get("CSVHeaders") or []
            else:
                headers, rows = (rows[0], rows[1:]) if rows else ([], [])
            return [dict(zip(headers, row, strict=False)) for row in rows]
        raise _fail("States.ItemReaderFailed", f"InputType {kind} is not supported locally")

    def write_results(self, spec: dict, request: TaskRequest) -> dict:
        params = spec.get("Parameters") or {}
        bucket = params.get("Bucket")
        if not bucket:
            raise _fail("States.ResultWriterFailed", "ResultWriter Parameters need a Bucket")
        prefix = params.get("Prefix", "").strip("/")
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, request.token))
        base = f"{prefix}/{run_id}" if prefix else run_id
        succeeded, failed = [], []
        for index, output in enumerate(spec.get("Results", [])):
            failed_item = isinstance(output, dict) and set(output) == {"Error", "Cause"}
            record = {"Index": index, "Status": "FAILED" if failed_item else "SUCCEEDED"}
            if failed_item:
                record.update(Error=output["Error"], Cause=output["Cause"])
                failed.append(record)
            else:
                record["Output"] = json.dumps(output)
                succeeded.append(record)
        store = _store()
        files = []
        for name, records in (("SUCCEEDED_0.json", succeeded), ("FAILED_0.json", failed)):
            if records:
                key = f"{base}/{name}"
                store.put_bytes(_uri(bucket, key), json.dumps(records).encode(), "application/json")
                files.append({"Key": key, "Size": len(json.dumps(records))})
        manifest_key = f"{base}/manifest.json"
        manifest = {
            "DestinationBucket": bucket,
            "MapRunArn": f"{request.execution_arn}/{spec.get('MapStateName', '')}:{run_id}",
            "ResultFiles": {
                "SUCCEEDED": files[:1] if succeeded else [],
                "FAILED": files[-1:] if failed else [],
                "PENDING": [],
            },
        }
        store.put_bytes(
            _uri(bucket, manifest_key), json.dumps(manifest).encode(), "application/json"
        )
        return {
            "MapRunArn": manifest["MapRunArn"],
            "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key},
        }
