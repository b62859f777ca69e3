"""AWS's framework images: URIs resolve to recipes, and real jobs and endpoints run on them.

The jobs here are what the SageMaker SDK sends for ``SKLearn(...)``, ``PyTorch(...)``,
``XGBoost`` as a built-in algorithm and ``HuggingFace(...)``: AWS's image URIs, JSON-encoded
``sagemaker_program`` / ``sagemaker_submit_directory`` hyperparameters, code as
``sourcedir.tar.gz`` in S3 or, under network isolation, as a ``code`` channel.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import tarfile
import urllib.request

import numpy as np
import pytest
from frameworks_support import (
    AWS_SCRIPTS,
    HUGGINGFACE,
    PYTORCH,
    PYTORCH_SERVE,
    ROLE,
    SCRIPTS,
    SKLEARN,
    XGBOOST,
    mnist_npz,
    pytorch_regression,
    tarball,
    training_request,
)

from stepline import images, jobs
from stepline.images import frameworks
from stepline.serving import api
from stepline.storage import get_store
from support import job_requests


def test_aws_scripts_are_byte_identical() -> None:
    """Every script under aws_scripts/ is listed in its NOTICE with the sha256 of AWS's file,
    and still hashes to it: nothing reformatted, no newline added."""
    import hashlib

    notice = (AWS_SCRIPTS / "NOTICE").read_text()
    listed = dict(re.findall(r"^file: (\S+)\n(?:  .*\n)*?  sha256: ([0-9a-f]{64})$", notice, re.M))
    present = {
        p.relative_to(AWS_SCRIPTS).as_posix()
        for p in AWS_SCRIPTS.rglob("*")
        if p.is_file() and p.suffix == ".py" and "__pycache__" not in p.parts
    }
    assert present and set(listed) == present, (sorted(listed), sorted(present))
    for name, digest in listed.items():
        assert hashlib.sha256((AWS_SCRIPTS / name).read_bytes()).hexdigest() == digest, name


def test_aws_uris_resolve_to_recipes() -> None:
    sk = frameworks.lookup(SKLEARN)
    assert sk and (sk.framework, sk.version, sk.local_ref) == (
        "sklearn",
        "1.2-1",
        "sagemaker-scikit-learn:1.2-1-cpu-py3",
    )
    assert set(sk.scopes) == {"training", "inference"}
    assert frameworks.lookup(XGBOOST).framework == "xgboost"
    assert frameworks.lookup(PYTORCH).framework == "pytorch"
    assert frameworks.lookup(HUGGINGFACE).base == "pytorch2.3.0"
    # Another region's account for the same repository is AWS's too.
    assert frameworks.lookup(
        SKLEARN.replace("683313688378", "141502667606").replace("us-east-1", "eu-west-1")
    )
    # A lookalike in someone else's account, and a user's own image, are not framework images.
    assert frameworks.lookup(SKLEARN.replace("683313688378", "123456789012")) is None
    assert frameworks.lookup("123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1") is None


def test_requirements_say_what_differs() -> None:
    reqs, notes = frameworks.requirements(frameworks.lookup(SKLEARN))
    assert "scikit-learn==1.2.1" in reqs and "numpy<2" in reqs  # what AWS's 1.2-1 image has
    assert any(r.startswith("sagemaker-training") for r in reqs)
    assert notes == []
    reqs, notes = frameworks.requirements(frameworks.lookup(PYTORCH))
    assert any("torch 2.8.0 requested" in n for n in notes)
    assert any("py312" in n for n in notes)
    reqs, notes = frameworks.requirements(frameworks.lookup(HUGGINGFACE))
    # The URI's transformers, with the datasets and accelerate AWS's image ships beside it.
    assert {"transformers==4.48.0", "datasets==3.1.0", "accelerate==1.1.0"} <= set(reqs)
    assert not any("transformers" in n for n in notes)
    assert any("GPU image" in n for n in notes)
    # transformers before 4.17 needs a tokenizers with no wheel for this Python: the closest.
    old_hf = "huggingface-pytorch-training:1.8.1-transformers4.6.1-gpu-py36-cu111-ubuntu18.04"
    reqs, notes = frameworks.requirements(frameworks.lookup(old_hf))
    assert "transformers==4.17.0" in reqs
    assert any("transformers 4.6.1 has no installable tokenizers" in n for n in notes)
    old = "sagemaker-scikit-learn:0.23-1-cpu-py3"
    reqs, notes = frameworks.requirements(frameworks.lookup(old))
    assert "scikit-learn==1.1.*" in reqs and any("no wheel" in n for n in notes)


def test_every_recipe_installs_pinned_versions() -> None:
    """Each URI in the table maps to a lock variant that pins every requirement of its recipe
    (and their dependencies) to one version inside the requirement's range."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    variants = set()
    for ref in frameworks._table()["tags"]:
        made = frameworks.recipe(frameworks.lookup(ref))
        variants.add(made.variant)
        for spec in made.requirements:
            req = Requirement(spec)
            name = canonicalize_name(req.name)
            if name == "torch":
                continue  # the host's torch, reused (see scripts/framework_lock.py)
            assert name in made.pins, (ref, spec)
            assert req.specifier.contains(made.pins[name], prereleases=True), (ref, spec)
        text = made.constraints()
        assert all(re.fullmatch(r"[a-z0-9._-]+==\S+", line) for line in text.splitlines()[1:])
    assert {"sklearn-1.2.1", "xgboost-1.7.4", "pytorch", "huggingface-4.48.0"} <= variants
    sk = frameworks.recipe(frameworks.lookup(SKLEARN))
    assert sk.pins["scikit-learn"] == "1.2.1" and sk.pins["numpy"].startswith("1.")
    dockerfile = frameworks.dockerfile(frameworks.lookup(SKLEARN), sk.requirements)
    assert "-c /opt/stepline-framework/constraints.txt" in dockerfile


def test_each_recipe_installs_the_uris_framework_version() -> None:
    """The framework each URI names is installed at its version (AWS's exact one where the
    tag abbreviates it), or the record's notes say what is used instead: no URI silently
    gets another version (a Hugging Face URI once got the newest transformers)."""
    for ref in frameworks._table()["tags"]:
        image = frameworks.lookup(ref)
        made = frameworks.recipe(image)
        aws = frameworks.AWS_PACKAGES.get((image.framework, image.version), {})
        if image.framework == "huggingface":
            wanted = {"transformers": re.search(r"transformers([\d.]+\d)", ref).group(1), **aws}
        elif image.framework == "sklearn":
            wanted = {"scikit-learn": aws.get("scikit-learn", image.version.split("-")[0])}
        elif image.framework == "xgboost":
            wanted = {"xgboost": aws.get("xgboost", image.version.split("-")[0])}
        else:
            continue  # torch is the host's, and the notes say so (test above)
        for dist, version in wanted.items():
            pinned = made.pins.get(dist) or made.pins.get(f"{dist}-cpu")
            exact = pinned == version or (
                version.count(".") == 1 and pinned.startswith(version + ".")
            )
            # Only versions with no wheel for this Python (or, for XGBoost, none that works
            # with its NumPy) give way to the closest, and the notes say so.
            floor = {"scikit-learn": "1.1", "xgboost": "1.7"}.get(dist, "0")
            if dist == "transformers":
                floor = frameworks.OLDEST_TRANSFORMERS
            if _release(version) >= _release(floor):
                assert exact, (ref, dist, version, pinned)
            else:
                assert any(n.startswith(f"{dist} ") for n in made.notes), (ref, dist)


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version))


def test_unknown_image_is_still_not_found(fw_home) -> None:
    with pytest.raises(images.ImageNotFound):
        images.ensure("123456789012.dkr.ecr.us-east-1.amazonaws.com/nothing:1")


def test_an_image_the_user_built_under_the_uri_wins(tmp_path, monkeypatch) -> None:
    """As a local image wins over a pull in docker: no recipe build, the user's image runs."""
    from stepline.images.build import build

    monkeypatch.setenv("STEPLINE_HOME", str(tmp_path / "home"))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "marker.txt").write_text("mine\n")
    (ctx / "Dockerfile").write_text("FROM python:3.11\nCOPY marker.txt /opt/\n")
    uri = SKLEARN.replace("1.2-1", "1.0-1")
    mine = build(ctx, frameworks.lookup(uri).local_ref)
    built = []
    found = images.ensure(uri, on_build=built.append)
    assert found.digest == mine.digest and built == []
    assert images.ImageStore().record(found.digest).get("framework") is None


def _members(uri: str) -> dict[str, bytes]:
    data = get_store().get_bytes(uri)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _invoke(endpoint: str, body: bytes, content_type: str, accept: str) -> bytes:
    from stepline.serving import server

    url = f"{server.server_url()}/endpoints/{endpoint}/invocations"
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": content_type, "Accept": accept}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read()


def _deploy(name: str, image: str, model_data: str, env: dict[str, str]) -> None:
    api.create_model(
        {
            "ModelName": name,
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": image, "ModelDataUrl": model_data, "Environment": env},
        }
    )
    api.create_endpoint_config(
        {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        }
    )
    api.create_endpoint({"EndpointName": name, "EndpointConfigName": name})
    import time

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = api.describe_endpoint(name)["EndpointStatus"]
        if status in ("InService", "Failed"):
            break
        time.sleep(0.5)
    desc = api.describe_endpoint(name)
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")


def _mnist_channels(prefix: str) -> dict[str, tuple[str, None]]:
    """``train`` and ``test`` channels of MNIST-shaped ``.npz`` files (AWS's sklearn script)."""
    store = get_store()
    for split, rows, seed in (("train", 60, 0), ("test", 20, 1)):
        store.put_bytes(f"{prefix}/{split}/{split}.npz", mnist_npz(rows, seed)[0])
    return {split: (f"{prefix}/{split}", None) for split in ("train", "test")}


def test_sklearn_script_mode_trains_and_serves(fw_home) -> None:
    """AWS's own scikit-learn MNIST script (the SageMaker SDK's integration-test data),
    unmodified: trained, served through its ``model_fn``, and run as a batch transform."""
    store = get_store()
    code = (AWS_SCRIPTS / "sklearn" / "mnist.py").read_bytes()
    store.put_bytes("s3://bucket/code/sk/sourcedir.tar.gz", tarball({"mnist.py": code}))
    hyper = {
        "epochs": "-1",
        "sagemaker_program": json.dumps("mnist.py"),
        "sagemaker_submit_directory": json.dumps("s3://bucket/code/sk/sourcedir.tar.gz"),
        "sagemaker_region": json.dumps("us-east-1"),
        "sagemaker_container_log_level": "20",
    }
    req = training_request("sk-train", SKLEARN, hyper, _mnist_channels("s3://bucket/mnist"))
    jobs.create_training_job(req)
    record = jobs.wait("training", "sk-train", timeout=600)
    log = record.log_path.read_text()
    assert record.status == "Completed", (record.state.get("failure_reason"), log[-3000:])
    # The toolkit ran the script with the hyperparameters as arguments.
    assert "mnist.py --epochs -1" in log
    desc = jobs.describe_training_job("sk-train")
    assert desc["ResourceConfig"]["InstanceType"] == "ml.c4.2xlarge"
    image = images.resolve(SKLEARN)
    record_fw = images.ImageStore().record(image.digest)["framework"]
    assert record_fw["requested"] == "1.2-1"
    assert record_fw["installed"]["scikit-learn"] == "1.2.1"  # AWS's 1.2-1 image's
    # The record says what the recipe put in the image, each at the lock's version.
    pins = frameworks.recipe(frameworks.lookup(SKLEARN)).pins
    assert record_fw["lock"] == "sklearn-1.2.1"
    assert record_fw["image_packages"]["scikit-learn"] == pins["scikit-learn"]
    from packaging.utils import canonicalize_name

    added = record_fw["image_packages"].items()
    assert all(pins[canonicalize_name(name)] == v for name, v in added), added
    model_uri = desc["ModelArtifacts"]["S3ModelArtifacts"]
    assert "model.joblib" in _members(model_uri)

    # SKLearnModel(entry_point=...).deploy(): the code comes from S3, the model from training.
    _deploy(
        "sk-ep",
        SKLEARN,
        model_uri,
        {
            "SAGEMAKER_PROGRAM": "mnist.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/code/sk/sourcedir.tar.gz",
        },
    )
    _, images_, digits = mnist_npz(3, 7)
    pixels = images_.astype(float) / 255.0  # as the script scales them for training
    out = _invoke(
        "sk-ep", json.dumps(pixels.tolist()).encode(), "application/json", "application/json"
    )
    assert [int(v) for v in json.loads(out)] == digits.tolist()
    rows = "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in pixels).encode()
    out = _invoke("sk-ep", rows, "text/csv", "text/csv")
    assert [int(float(v)) for v in out.decode().split()] == digits.tolist()

    # Transformer(...).transform(): batch transform on the same model, one record a line.
    store.put_bytes("s3://bucket/batch/in/rows.csv", rows)
    transform_req = {
        "TransformJobName": "sk-batch",
        "ModelName": "sk-ep",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/batch/in/"}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": "s3://bucket/batch/out",
            "AssembleWith": "Line",
            "Accept": "text/csv",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    jobs.create_transform_job(transform_req)
    done = jobs.wait("transform", "sk-batch", timeout=300)
    assert done.status == "Completed", done.state.get("failure_reason")
    lines = store.get_bytes("s3://bucket/batch/out/rows.csv.out").decode().split()
    assert [int(float(v)) for v in lines] == digits.tolist()


def test_sklearn_processor_runs_code_from_an_input(fw_home) -> None:
    """SKLearnProcessor / ScriptProcessor: the code arrives as an input at
    /opt/ml/processing/input/code and runs through ContainerEntrypoint."""
    store = get_store()
    rows = "\n".join(f"{i % 2},{i / 10:.2f},{-i / 10:.2f}" for i in range(40)).encode()
    store.put_bytes("s3://bucket/proc/raw/data.csv", rows)
    code = (SCRIPTS / "sklearn_preprocess.py").read_bytes()
    store.put_bytes("s3://bucket/proc/code/sklearn_preprocess.py", code)

    def s3_input(name: str, uri: str, local: str) -> dict:  # as the SDK's processors send it
        return job_requests.s3_input(name, uri, local, S3DataDistributionType="FullyReplicated")

    def s3_output(name: str) -> dict:
        return job_requests.s3_output(
            name, f"s3://bucket/proc/out/{name}", f"/opt/ml/processing/{name}"
        )

    req = {
        "ProcessingJobName": "sk-proc",
        "RoleArn": ROLE,
        "AppSpecification": {
            "ImageUri": SKLEARN,
            "ContainerEntrypoint": [
                "python3",
                "/opt/ml/processing/input/code/sklearn_preprocess.py",
            ],
        },
        "ProcessingInputs": [
            s3_input("raw", "s3://bucket/proc/raw", "/opt/ml/processing/input/raw"),
            s3_input("code", "s3://bucket/proc/code", "/opt/ml/processing/input/code"),
        ],
        "ProcessingOutputConfig": {"Outputs": [s3_output("train"), s3_output("test")]},
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.t3.medium",
                "VolumeSizeInGB": 1,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    jobs.create_processing_job(req)
    record = jobs.wait("processing", "sk-proc", timeout=600)
    assert record.status == "Completed", (
        record.state.get("failure_reason"),
        record.log_path.read_text()[-2000:],
    )
    assert "split 40 rows into 30 train and 10 test" in record.log_path.read_text()
    train = store.get_bytes("s3://bucket/proc/out/train/train.csv").decode().splitlines()
    assert len(train) == 30


def test_failing_script_reports_like_sagemaker(fw_home) -> None:
    """AWS's own failure script (the SDK's integration tests expect it to fail)."""
    store = get_store()
    code = (AWS_SCRIPTS / "sklearn" / "failure_script.py").read_bytes()
    store.put_bytes("s3://bucket/code/fail/sourcedir.tar.gz", tarball({"failure_script.py": code}))
    hyper = {
        "epochs": "1",
        "sagemaker_program": json.dumps("failure_script.py"),
        "sagemaker_submit_directory": json.dumps("s3://bucket/code/fail/sourcedir.tar.gz"),
    }
    req = training_request("sk-fail", SKLEARN, hyper, {})
    req.pop("InputDataConfig")
    jobs.create_training_job(req)
    jobs.wait("training", "sk-fail", timeout=600)
    reason = jobs.describe_training_job("sk-fail")["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\n"), reason
    assert "This failure is expected." in reason
    assert 'Command "/' in reason and "failure_script.py --epochs 1" in reason
    assert "bwrap" not in reason


def test_network_isolated_script_mode_reads_code_from_a_channel(fw_home) -> None:
    """Under network isolation the SDK sends code as a ``code`` channel and names it by its
    container path; the toolkit unpacks it inside the job."""
    store = get_store()
    code = (AWS_SCRIPTS / "sklearn" / "mnist.py").read_bytes()
    store.put_bytes("s3://bucket/iso/code/sourcedir.tar.gz", tarball({"mnist.py": code}))
    hyper = {
        "sagemaker_program": json.dumps("mnist.py"),
        "sagemaker_submit_directory": json.dumps("/opt/ml/input/data/code/sourcedir.tar.gz"),
    }
    channels = {**_mnist_channels("s3://bucket/iso"), "code": ("s3://bucket/iso/code", None)}
    req = training_request("sk-iso", SKLEARN, hyper, channels)
    req["EnableNetworkIsolation"] = True
    jobs.create_training_job(req)
    record = jobs.wait("training", "sk-iso", timeout=600)
    assert record.status == "Completed", record.state.get("failure_reason")
    desc = jobs.describe_training_job("sk-iso")
    assert "model.joblib" in _members(desc["ModelArtifacts"]["S3ModelArtifacts"])


def test_xgboost_builtin_algorithm_trains_reports_metrics_and_serves(fw_home) -> None:
    store = get_store()
    rng = np.random.default_rng(1)

    def rows(n: int) -> bytes:
        x = rng.uniform(-1, 1, size=(n, 3))
        y = 3 * x[:, 0] - x[:, 1]
        return "\n".join(
            ",".join(f"{v:.5f}" for v in (t, *r)) for t, r in zip(y, x, strict=True)
        ).encode()

    def libsvm(n: int) -> bytes:
        lines = []
        for line in rows(n).decode().splitlines():
            target, *features = line.split(",")
            cells = " ".join(f"{i}:{v}" for i, v in enumerate(features) if float(v) != 0.0)
            lines.append(f"{target} {cells}")
        return "\n".join(lines).encode()

    store.put_bytes("s3://bucket/xgb/train/train.csv", rows(200))
    # The validation channel is LIBSVM (the algorithm's default content type), zero-based.
    store.put_bytes("s3://bucket/xgb/validation/validation.libsvm", libsvm(50))
    hyper = {"num_round": "30", "objective": "reg:squarederror", "max_depth": "3", "eta": "0.3"}
    req = training_request(
        "xgb-builtin",
        XGBOOST,
        hyper,
        {
            "train": ("s3://bucket/xgb/train", "text/csv"),
            "validation": ("s3://bucket/xgb/validation", None),
        },
    )
    # No MetricDefinitions: a built-in algorithm's metrics are SageMaker's to know.
    jobs.create_training_job(req)
    record = jobs.wait("training", "xgb-builtin", timeout=600)
    assert record.status == "Completed", (
        record.state.get("failure_reason"),
        record.log_path.read_text()[-2000:],
    )
    desc = jobs.describe_training_job("xgb-builtin")
    final = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    assert 0 <= final["validation:rmse"] < 0.5 and final["train:rmse"] < 0.5
    model_uri = desc["ModelArtifacts"]["S3ModelArtifacts"]
    assert "xgboost-model" in _members(model_uri)
    _deploy("xgb-ep", XGBOOST, model_uri, {})
    out = _invoke("xgb-ep", b"0.5,0.0,0.0\n-0.5,0.0,0.0\n", "text/csv", "text/csv")
    first, second = (float(v) for v in out.decode().split(","))
    assert first == pytest.approx(1.5, abs=0.4) and second == pytest.approx(-1.5, abs=0.4)
    out = _invoke("xgb-ep", b"0.5,0.0,0.0\n", "text/csv", "application/json")
    assert list(json.loads(out)["predictions"][0]) == ["score"]


def test_the_image_build_is_a_secondary_status_before_the_clock_starts(fw_home) -> None:
    """A job whose framework image is not built yet says so (``Starting``, "Preparing the
    framework image"), and its TrainingStartTime -- what MaxRuntimeInSeconds counts from --
    comes after the build.  The build itself is a cache lookup here: the image's name is
    removed, its build kept under another name."""
    store = get_store()
    code = (AWS_SCRIPTS / "sklearn" / "failure_script.py").read_bytes()
    store.put_bytes("s3://bucket/code/prep/sourcedir.tar.gz", tarball({"failure_script.py": code}))
    local = frameworks.lookup(PYTORCH).local_ref
    images.tag(images.ensure(PYTORCH).ref, "stepline-test-keep:pytorch")
    images.remove(local)
    hyper = {
        "sagemaker_program": json.dumps("failure_script.py"),
        "sagemaker_submit_directory": json.dumps("s3://bucket/code/prep/sourcedir.tar.gz"),
    }
    req = training_request("pt-prep", PYTORCH, hyper, {})
    req.pop("InputDataConfig")
    jobs.create_training_job(req)
    jobs.wait("training", "pt-prep", timeout=600)
    desc = jobs.describe_training_job("pt-prep")
    preparing = [
        t
        for t in desc["SecondaryStatusTransitions"]
        if t["StatusMessage"].startswith("Preparing the framework image")
    ]
    assert [t["Status"] for t in preparing] == ["Starting"], desc["SecondaryStatusTransitions"]
    assert local in preparing[0]["StatusMessage"]
    # The clock starts as the preparing ends (the same transition; microseconds apart).
    assert desc["TrainingStartTime"] >= preparing[0]["EndTime"] - dt.timedelta(milliseconds=50)
    assert desc["TrainingStartTime"] >= preparing[0]["StartTime"]
    assert images.resolve(PYTORCH).digest == images.resolve("stepline-test-keep:pytorch").digest


def test_xgboost_requires_num_round(fw_home) -> None:
    get_store().put_bytes("s3://bucket/xgb2/train/train.csv", b"1,0.5\n0,0.1\n")
    req = training_request(
        "xgb-bad",
        XGBOOST,
        {"objective": "reg:squarederror"},
        {"train": ("s3://bucket/xgb2/train", "text/csv")},
    )
    jobs.create_training_job(req)
    jobs.wait("training", "xgb-bad", timeout=600)
    reason = jobs.describe_training_job("xgb-bad")["FailureReason"]
    assert reason == "AlgorithmError: ClientError: Missing required hyperparameter: num_round"


def test_pytorch_script_mode_trains_and_serves_with_user_functions(fw_home) -> None:
    """AWS's PyTorch script-mode example, unmodified: it trains from ``.npy`` channels and
    copies itself and its model module into the model's ``code/`` folder (for the Step
    Functions Data Science SDK, which does not repack), so the model serves as it is."""
    store = get_store()
    source = AWS_SCRIPTS / "pytorch"
    files = {p.name: p.read_bytes() for p in sorted(source.glob("*.py"))}
    store.put_bytes("s3://bucket/code/pt/sourcedir.tar.gz", tarball(files))
    for split, rows, seed in (("train", 256, 0), ("test", 64, 1)):
        for name, data in pytorch_regression(rows, seed, split).items():
            store.put_bytes(f"s3://bucket/pt/{split}/{name}", data)
    program = "train_deploy_pytorch_without_dependencies.py"
    hyper = {
        "epochs": "100",
        "learning_rate": "0.1",
        "sagemaker_program": json.dumps(program),
        "sagemaker_submit_directory": json.dumps("s3://bucket/code/pt/sourcedir.tar.gz"),
    }
    channels = {split: (f"s3://bucket/pt/{split}", None) for split in ("train", "test")}
    req = training_request("pt-train", PYTORCH, hyper, channels)
    jobs.create_training_job(req)
    record = jobs.wait("training", "pt-train", timeout=600)
    log = record.log_path.read_text()
    assert record.status == "Completed", (record.state.get("failure_reason"), log[-3000:])
    # The toolkit relays output as it comes: "Test MSE:" and its value may be lines apart.
    mse = float(re.search(r"Test MSE:\s+([-+.0-9eE]+)", log).group(1))
    assert mse < 0.1, log[-2000:]
    model_uri = jobs.describe_training_job("pt-train")["ModelArtifacts"]["S3ModelArtifacts"]
    members = _members(model_uri)
    assert members[f"code/{program}"] == files[program]  # the script put itself there
    _deploy(
        "pt-ep",
        PYTORCH_SERVE,
        model_uri,
        {"SAGEMAKER_PROGRAM": program, "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
    )
    row = [0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5]  # y = -0.5 + 0.5 = 0 on the true weights
    out = json.loads(_invoke("pt-ep", json.dumps([row]).encode(), "application/json", "*/*"))
    assert out == [pytest.approx(0.0, abs=0.35)], out


def test_images_pull_and_list_show_installed_versions(fw_home) -> None:
    import os
    import subprocess

    env = {**os.environ, "COLUMNS": "80"}
    pulled = subprocess.run(
        ["stepline", "images", "pull", SKLEARN], capture_output=True, text=True, env=env
    )
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.startswith("sagemaker-scikit-learn:1.2-1-cpu-py3 sha256:")
    assert "scikit-learn 1.2." in pulled.stdout
    listed = subprocess.run(
        ["stepline", "images", "list", "--json"], capture_output=True, text=True, env=env
    )
    entry = next(i for i in json.loads(listed.stdout) if i["name"] == "sagemaker-scikit-learn")
    assert entry["framework"]["requested"] == "1.2-1"
    assert entry["framework"]["installed"]["scikit-learn"].startswith("1.2.")
    bad = subprocess.run(
        ["stepline", "images", "pull", "my-own:1"], capture_output=True, text=True, env=env
    )
    assert bad.returncode != 0 and "not one of AWS's" in bad.stderr
