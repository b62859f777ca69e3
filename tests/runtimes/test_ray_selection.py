"""Selecting the ray runtime: environment over config.toml, and refusals that say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepline import config, jobs
from stepline.errors import ValidationException
from stepline.jobs.runtimes import ray as ray_runtime


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    for var in ("STEPLINE_RUNTIME", "RAY_ADDRESS", "STEPLINE_S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STEPLINE_STORE", "local")
    path.mkdir(parents=True)
    return path


def test_environment_wins_over_config_toml(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ray_runtime.backend() == "local" and ray_runtime.address() == "auto"
    (home / "config.toml").write_text('[runtime]\nbackend = "ray"\naddress = "10.0.0.5:6379"\n')
    assert ray_runtime.backend() == "ray" and ray_runtime.address() == "10.0.0.5:6379"
    monkeypatch.setenv("STEPLINE_RUNTIME", "local")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.9:6379")
    assert ray_runtime.backend() == "local" and ray_runtime.address() == "10.0.0.9:6379"
    monkeypatch.setenv("STEPLINE_RUNTIME", "kubernetes")
    with pytest.raises(config.ConfigError, match="'kubernetes' is not 'local' or 'ray'"):
        ray_runtime.backend()


def test_ray_refuses_a_store_that_is_not_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPLINE_RUNTIME", "ray")
    with pytest.raises(ray_runtime.RayUnavailable, match="needs an S3 object store"):
        ray_runtime.check_store()
    monkeypatch.setenv("STEPLINE_STORE", "s3")
    monkeypatch.setenv("STEPLINE_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    assert ray_runtime.check_store().backend == "s3"


def _request(count: int) -> dict:
    return {
        "TrainingJobName": "multi",
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "ResourceConfig": {
            "InstanceType": "ml.c4.2xlarge",
            "InstanceCount": count,
            "VolumeSizeInGB": 1,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }


def test_several_instances_need_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationException, match="set STEPLINE_RUNTIME=ray to run several"):
        jobs.create_training_job(_request(2))


def test_a_job_on_ray_with_the_embedded_store_fails_saying_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEPLINE_RUNTIME", "ray")
    jobs.create_training_job(_request(2))
    jobs.wait("training", "multi", timeout=60)
    desc = jobs.describe_training_job("multi")
    assert desc["TrainingJobStatus"] == "Failed"
    assert "needs an S3 object store" in desc["FailureReason"]


def test_a_malformed_runtime_setting_fails_the_job_saying_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEPLINE_RUNTIME", "cluster")
    jobs.create_training_job(_request(1))
    jobs.wait("training", "multi", timeout=60)
    desc = jobs.describe_training_job("multi")
    assert desc["TrainingJobStatus"] == "Failed"
    assert "STEPLINE_RUNTIME / [runtime] backend: 'cluster' is not" in desc["FailureReason"]
