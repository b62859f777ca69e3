"""Step caching: a job whose request, image, code and input data match a previous successful
job reuses that job's outputs instead of running.

The cache key has named parts so a miss can be explained: every top-level request field
(hashed after replacing the job's own name, so output paths that embed it compare equal, and
each input's URI, since inputs count by content), the image digest, the code digest (the
script-mode source archive's ETag) and one digest per input channel (the relative keys and
ETags of every object under its S3 prefix -- a model under a new job's name is the same
input when its bytes are).  A hit copies the
source job's outputs to where the new request wants them and records a Completed job that
says which job it reused; nothing runs.

Caching is on for jobs started by pipelines, off for direct API calls (as on SageMaker);
a step turns it off with the tag ``stepline:cache=off``, a run with ``STEPLINE_CACHE=off``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

from stepline.jobs import kinds, records

CACHE_TAG = "stepline:cache"
CACHE_ENV = "STEPLINE_CACHE"
_OFF = {"off", "false", "0", "no", "disabled"}


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def enabled(request: dict[str, Any], default: bool = True) -> bool:
    """Whether caching applies: the run's switch, then the step's tag."""
    if os.environ.get(CACHE_ENV, "").strip().lower() in _OFF:
        return False
    for tag in request.get("Tags") or []:
        if tag.get("Key") == CACHE_TAG:
            return str(tag.get("Value", "")).strip().lower() not in _OFF
    return default


def _without_name(value: Any, name: str) -> Any:
    if isinstance(value, str):
        return value.replace(name, "{job}")
    if isinstance(value, dict):
        return {k: _without_name(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_name(v, name) for v in value]
    return value


def _inputs(kind: str, req: dict[str, Any]) -> dict[str, str]:
    """Input name → S3 URI, for the job kinds' input shapes."""
    return kinds.get(kind).inputs(req)


def _prefix_digest(store: Any, uri: str) -> str:
    """Digest of the objects under ``uri`` by *relative* key and ETag: the same bytes under
    another prefix (say, a model under a new training job's name) digest the same."""
    from stepline.storage import parse_s3_uri

    _, prefix = parse_s3_uri(uri, allow_prefix=True)
    listing = [(o.key[len(prefix) :], o.etag) for o in store.list(uri)]
    if not listing:
        raise LookupError(uri)
    return _digest(listing)


def _without_input_uris(kind: str, req: dict[str, Any]) -> dict[str, Any]:
    """The request with each input's S3 URI replaced by a marker: inputs count by content."""
    req = json.loads(json.dumps(req))
    for _, holder in kinds.get(kind).input_sources(req):
        holder["S3Uri"] = "{input}"
    return req


def _image_digest(kind: str, req: dict[str, Any]) -> str | None:
    from stepline.images import resolve

    uri = kinds.get(kind).image(req)
    return resolve(uri).digest if uri else None


def _code_digest(store: Any, req: dict[str, Any]) -> str | None:
    hyper = req.get("HyperParameters") or {}
    uri = hyper.get("sagemaker_submit_directory")
    if not uri:
        return None
    uri = json.loads(uri) if uri.startswith('"') else uri
    if not uri.startswith("s3://"):
        return None
    return store.head(uri).etag


def key_parts(kind: str, req: dict[str, Any]) -> dict[str, Any] | None:
    """The named parts of the cache key, or None when they cannot be known (missing input)."""
    from stepline.storage import StorageError, get_store

    store = get_store()
    name = req[kinds.get(kind).name_field]
    volatile = {kinds.get(kind).name_field, "Tags"}
    comparable = _without_input_uris(kind, req)
    request = {
        k: _digest(_without_name(v, name))
        for k, v in sorted(comparable.items())
        if k not in volatile
    }
    try:
        inputs = {n: _prefix_digest(store, uri) for n, uri in sorted(_inputs(kind, req).items())}
        code = _code_digest(store, req)
        image = _image_digest(kind, req)
    except (LookupError, StorageError, ValueError):
        return None
    return {"kind": kind, "request": request, "image": image, "code": code, "inputs": inputs}


def key_of(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def find_hit(kind: str, key: str) -> records.JobRecord | None:
    """The newest Completed job with this cache key (hits don't chain: the source ran)."""
    rows = records.connect().execute(
        "SELECT * FROM jobs WHERE kind=? AND status='Completed' "
        "AND json_extract(state, '$.cache.key')=? ORDER BY created DESC",
        (kind, key),
    )
    for row in rows:
        record = records.JobRecord.from_row(row)
        if _outputs_exist(record):
            return record
    return None


def _output_uris(req: dict[str, Any], kind: str, name: str) -> list[str]:
    return kinds.get(kind).output_prefixes(req, name)


def _outputs_exist(record: records.JobRecord) -> bool:
    from stepline.storage import StorageError, get_store

    store = get_store()
    try:
        for uri in _output_uris(record.request, record.kind, record.name):
            if next(iter(store.list(uri)), None) is None:
                return False
    except StorageError:
        return False
    return True


def reuse(
    kind: str, req: dict[str, Any], source: records.JobRecord, parts: dict[str, Any], key: str
) -> dict[str, Any]:
    """Copy ``source``'s outputs to where ``req`` wants them; return the record's state."""
    from stepline.storage import get_store

    store = get_store()
    name = req[kinds.get(kind).name_field]
    old = _output_uris(source.request, kind, source.name)
    new = _output_uris(req, kind, name)
    copied = 0
    for src_prefix, dst_prefix in zip(old, new, strict=True):
        if src_prefix == dst_prefix:
            continue
        for obj in store.list(src_prefix):
            rel = obj.uri[len(src_prefix) :]
            store.copy(obj.uri, dst_prefix + rel)
            copied += 1
    for point in records.metrics(kind, source.name):
        records.add_metric(kind, name, point["MetricName"], point["Value"], point["Timestamp"])
    state = {
        key_name: value
        for key_name, value in source.state.items()
        if key_name in ("image", "resources", "resource_notes", "exit_code", "exit_message")
    }
    state.update(kinds.get(kind).reused_state(source))
    state["cache"] = {
        "hit": True,
        "key": key,
        "source_job": source.name,
        "parts": parts,
        "objects_copied": copied,
        "at": time.time(),
    }
    return state


def explain(kind: str, name: str) -> dict[str, Any]:
    """Why job ``name`` did or did not hit: its parts against the closest earlier job."""
    record = records.get(kind, name)
    if record is None:
        raise KeyError(f"no {kind} job {name!r}")
    info = record.state.get("cache")
    if not info:
        return {"job": name, "kind": kind, "cached": False, "reason": "caching was off"}
    if info.get("hit"):
        return {
            "job": name,
            "kind": kind,
            "cached": True,
            "source_job": info["source_job"],
            "key": info["key"],
            "parts": info["parts"],
        }
    parts = info.get("parts") or {}
    best, best_diff = None, None
    rows = records.connect().execute(
        "SELECT * FROM jobs WHERE kind=? AND status='Completed' AND created < ? "
        "AND json_extract(state, '$.cache.parts') IS NOT NULL ORDER BY created DESC",
        (kind, record.created),
    )
    for row in rows:
        other = records.JobRecord.from_row(row)
        diff = diff_parts(parts, other.state["cache"]["parts"])
        if best_diff is None or len(diff) < len(best_diff):
            best, best_diff = other, diff
    if best is None:
        reason = "no earlier successful job of this kind to reuse"
    elif not best_diff:
        reason = f"{best.name} matched but its outputs were gone or it was not complete then"
    else:
        reason = f"closest earlier job {best.name} differs in: {', '.join(best_diff)}"
    return {
        "job": name,
        "kind": kind,
        "cached": False,
        "key": info.get("key"),
        "closest_job": best.name if best else None,
        "differences": best_diff or [],
        "reason": reason,
        "parts": parts,
    }


def diff_parts(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Names of the key parts that differ (``request.HyperParameters``, ``inputs.train``...)."""
    out = []
    for part in ("image", "code"):
        if a.get(part) != b.get(part):
            out.append(part)
    for group in ("request", "inputs"):
        left, right = a.get(group) or {}, b.get(group) or {}
        for field in sorted(set(left) | set(right)):
            if left.get(field) != right.get(field):
                out.append(f"{group}.{field}")
    return out
