"""Inputs are writable to the job and immutable in the store (issue 10, row 2).

Staged inputs are hard links to stored objects.  A job that opens its input with ``r+`` and
writes over it must see its own write, as on SageMaker, while the stored object's bytes and
ETag stay what they were, and a cached step computed from the object stays valid.
"""

from __future__ import annotations

import hashlib
import json

import sandbox_support

from stepline import jobs
from support.job_requests import processing_request, s3_input, s3_output, training_request

home = sandbox_support.home

ORIGINAL = b"original bytes of the stored object\n"

OVERWRITE = """
import json, os, sys
path = sys.argv[1]
with open(path, "r+b") as fh:
    fh.write(b"OVERWRITTEN")
with open(path, "rb") as fh:
    seen = fh.read()
os.makedirs("/opt/ml/processing/output/seen", exist_ok=True)
with open("/opt/ml/processing/output/seen/seen.json", "w") as fh:
    json.dump({"seen": seen.decode()}, fh)
"""


def _etag(store, uri: str) -> str:
    return store.head(uri).etag.strip('"')


def _overwrite_image(make_image) -> str:
    return make_image("overwrite", {"w.py": OVERWRITE}, ["python3", "/opt/program/w.py"])


def _overwrite_job(image: str, name: str) -> object:
    req = processing_request(
        name,
        image,
        AppSpecification={
            "ImageUri": image,
            "ContainerArguments": ["/opt/ml/processing/input/data/data.txt"],
        },
        ProcessingInputs=[s3_input("data", "s3://bucket/in", "/opt/ml/processing/input/data")],
        ProcessingOutputConfig={
            "Outputs": [s3_output("seen", f"s3://bucket/{name}", "/opt/ml/processing/output/seen")]
        },
    )
    jobs.create_processing_job(req)
    done = jobs.wait("processing", name, timeout=60)
    assert done.status == "Completed", (done.state.get("failure_reason"), done.log_path.read_text())
    return done


def test_job_writes_its_input_but_the_stored_object_never_changes(store, make_image) -> None:
    store.put_bytes("s3://bucket/in/data.txt", ORIGINAL)
    etag = _etag(store, "s3://bucket/in/data.txt")
    assert etag == hashlib.md5(ORIGINAL).hexdigest()
    done = _overwrite_job(_overwrite_image(make_image), "ow-1")
    # The job saw its own write (a writable copy, as on SageMaker)...
    seen = json.loads(store.get_bytes("s3://bucket/ow-1/seen.json"))["seen"]
    assert seen == "OVERWRITTEN" + ORIGINAL.decode()[len("OVERWRITTEN") :]
    # ...and the stored object is untouched: bytes, ETag, and its MD5 still agree.
    assert store.get_bytes("s3://bucket/in/data.txt") == ORIGINAL
    assert _etag(store, "s3://bucket/in/data.txt") == etag
    # Without copying a byte: the job's input was the stored object's own inode, under an
    # overlay whose writes went to the job's disk (and went away with the job).
    assert "input_staging" not in done.state
    staged = done.folder / "ml" / "processing" / "input" / "data" / "data.txt"
    stored = store.root / "bucket" / "in" / "data.txt"
    assert staged.stat().st_ino == stored.stat().st_ino
    assert not (done.folder / "overlay").exists()


def test_training_channel_is_writable_and_the_object_unchanged(store, make_image) -> None:
    store.put_bytes("s3://bucket/train/data.txt", ORIGINAL)
    code = """
    path = "/opt/ml/input/data/train/data.txt"
    with open(path, "r+") as fh:
        fh.write("CHANGED")
    print("READ", open(path).read(), flush=True)
    """
    image = make_image("chan", {"t.py": code}, ["python3", "/opt/program/t.py"])
    channel = {
        "ChannelName": "train",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": "s3://bucket/train",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    jobs.create_training_job(training_request("chan-1", image, InputDataConfig=[channel]))
    done = jobs.wait("training", "chan-1", timeout=60)
    assert done.status == "Completed", (done.state.get("failure_reason"), done.log_path.read_text())
    assert "READ CHANGED" in done.log_path.read_text()
    assert store.get_bytes("s3://bucket/train/data.txt") == ORIGINAL


def test_step_cache_stays_sound_after_a_job_wrote_its_input(store, make_image) -> None:
    """The cache keys on ETags: a cache hit must mean the object still has those bytes."""
    store.put_bytes("s3://bucket/in/data.txt", ORIGINAL)
    image = _overwrite_image(make_image)
    _overwrite_job(image, "ow-a")
    # A second job with the same request is computed from the same, unchanged object.
    _overwrite_job(image, "ow-b")
    first = json.loads(store.get_bytes("s3://bucket/ow-a/seen.json"))
    second = json.loads(store.get_bytes("s3://bucket/ow-b/seen.json"))
    assert first == second
    assert store.get_bytes("s3://bucket/in/data.txt") == ORIGINAL


def test_without_overlays_inputs_are_private_copies_and_the_record_says_so(
    store, make_image, monkeypatch
) -> None:
    monkeypatch.setenv("STEPLINE_SANDBOX", "none")
    code = """
    import os
    path = os.path.join(os.environ["IN"], "data.txt")
    with open(path, "r+") as fh:
        fh.write("CHANGED")
    """
    image = make_image("plain", {"p.py": code}, ["python3", "/opt/program/p.py"])
    store.put_bytes("s3://bucket/in/data.txt", ORIGINAL)
    req = processing_request(
        "plain-1",
        image,
        Environment={"IN": "/opt/ml/processing/input/data"},
        ProcessingInputs=[s3_input("data", "s3://bucket/in", "/opt/ml/processing/input/data")],
    )
    jobs.create_processing_job(req)
    done = jobs.wait("processing", "plain-1", timeout=60)
    assert done.status == "Completed", (done.state.get("failure_reason"), done.log_path.read_text())
    assert store.get_bytes("s3://bucket/in/data.txt") == ORIGINAL
    (note,) = done.state["input_staging"]
    assert note.startswith("/opt/ml/processing/input/data: ") and "process runtime" in note
    assert ("copied" in note) or ("cloned" in note)
