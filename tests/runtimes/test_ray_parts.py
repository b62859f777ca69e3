"""The pieces of the ray runtime that need no cluster: image shipping, sharding, the
multi-host environment, and the refusal to upload what a job points outside its folder."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from stepline import images
from stepline.jobs.runtimes import ray_images
from stepline.jobs.runtimes.ray_node import ShardedStore, _inside, multi_host_env
from stepline.storage.local import LocalStore


@pytest.fixture
def engine_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "engine"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    return path


def test_images_travel_through_the_store_once_per_node(
    tmp_path: Path, engine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "job.py").write_text("print('hi')\n")
    (ctx / "Dockerfile").write_text("FROM python:3.11\nCOPY job.py /opt/program/job.py\n")
    image = images.build(ctx, "shipped:1", runtime="process")
    store = LocalStore(tmp_path / "objects")
    uri = ray_images.publish(store, image, tmp_path / "scratch")
    assert uri == f"s3://stepline-images/images/{image.digest.split(':')[1]}.tar.gz"
    stamp = store.head(uri).last_modified
    assert ray_images.publish(store, image, tmp_path / "scratch") == uri  # not uploaded again
    assert store.head(uri).last_modified == stamp

    node_home = tmp_path / "node"
    monkeypatch.setenv("STEPLINE_HOME", str(node_home))
    pulled, downloaded = ray_images.pull(store, uri, image.digest)
    assert downloaded and pulled.digest == image.digest
    assert pulled.venv == node_home / "images" / "store" / image.digest.split(":")[1] / "venv"
    assert (pulled.root / "opt" / "program" / "job.py").read_text() == "print('hi')\n"
    activate = (pulled.venv / "bin" / "activate").read_text()
    assert str(pulled.venv) in activate and str(image.venv) not in activate  # relocated
    again, downloaded = ray_images.pull(store, uri, image.digest)
    assert not downloaded and again.venv == pulled.venv  # cached on the node

    container = dataclasses.replace(image, runtime="container", venv=None, root=None)
    with pytest.raises(ValueError, match="cannot be shipped to Ray nodes"):
        ray_images.publish(store, container, tmp_path / "scratch")  # no engine image


def test_a_shipped_container_image_must_be_the_one_its_digest_names(tmp_path: Path) -> None:
    """The archive comes from the object store: a record naming another engine image (one
    the node may already have, say) is refused before anything is loaded."""
    digest = "sha256:" + "ab" * 32
    unpacked = tmp_path / "image"
    unpacked.mkdir()
    record = {"runtime": "container", "engine_ref": "localhost/stepline/other:latest"}
    (unpacked / "image.json").write_text(json.dumps(record))
    (unpacked / ray_images.OCI_ARCHIVE).write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="not the container image it claims"):
        ray_images._load_container(unpacked, digest)


def test_sharded_by_s3_key_deals_every_object_to_exactly_one_instance(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    store.create_bucket("bkt")
    keys = [f"in/part-{i}.csv" for i in range(5)] + ["in/sub/deep.csv"]
    for key in keys:
        store.put_bytes(f"s3://bkt/{key}", key.encode())
    seen = []
    for index in range(2):
        shard = ShardedStore(store, {"s3://bkt/in", "s3://bkt/in/"}, index, 2)
        files = shard.stage("s3://bkt/in/", tmp_path / f"i{index}")
        seen += ["in/" + f.relative_to(tmp_path / f"i{index}").as_posix() for f in files]
    assert sorted(seen) == sorted(keys)
    plain = ShardedStore(store, set(), 0, 2).stage("s3://bkt/in/", tmp_path / "all")
    assert len(plain) == 6  # FullyReplicated: everything


def test_multi_host_environment() -> None:
    env = {
        "SM_TRAINING_ENV": json.dumps({"hosts": ["algo-1"], "current_host": "algo-1"}),
        "SM_RESOURCE_CONFIG": json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}),
    }
    out = multi_host_env(env, 1, ["algo-1", "algo-2"], 29500, "algo-1", "eth1")
    assert out["SM_CURRENT_HOST"] == "algo-2" and json.loads(out["SM_HOSTS"]) == [
        "algo-1",
        "algo-2",
    ]
    assert json.loads(out["SM_TRAINING_ENV"]) == {
        "hosts": ["algo-1", "algo-2"],
        "current_host": "algo-2",
    }
    assert json.loads(out["SM_RESOURCE_CONFIG"])["current_host"] == "algo-2"
    assert (out["MASTER_ADDR"], out["MASTER_PORT"]) == ("algo-1", "29500")
    assert (out["WORLD_SIZE"], out["RANK"]) == ("2", "1")
    assert out["SM_NETWORK_INTERFACE_NAME"] == "eth1"  # the training toolkit's variables
    # A processing job has no training toolkit variables: only the common contract.
    processing = multi_host_env({}, 0, ["algo-1", "algo-2"], 29500, "algo-1", "eth1")
    assert processing["SM_CURRENT_HOST"] == "algo-1" and processing["RANK"] == "0"
    assert "SM_NETWORK_INTERFACE_NAME" not in processing


def test_a_symlink_out_of_the_job_folder_is_never_read(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    (folder / "ml" / "output").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text("host secret")
    os.symlink(secret, folder / "ml" / "output" / "failure")
    with pytest.raises(PermissionError, match="outside the job's folder"):
        _inside(folder, folder / "ml" / "output" / "failure")
    (folder / "ml" / "model").mkdir()
    assert _inside(folder, folder / "ml" / "model") == folder / "ml" / "model"
