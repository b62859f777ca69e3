"""Regenerate ``src/stepline/images/aws_frameworks.json`` from the SageMaker Python SDK.

Why: AWS's framework image URIs (which account per region, which repository, which tags) are
facts the ``sagemaker`` package keeps in its ``image_uri_config`` tables and resolves with
``sagemaker.image_uris.retrieve``.  stepline must recognise those URIs without depending on
the SDK at run time, so this script asks the SDK for every URI of the frameworks stepline
builds (scikit-learn, XGBoost, PyTorch, Hugging Face) and writes a compact table: for each
``repository:tag`` the framework, version, scope, processor and Python tag; for each
repository the registry account of every region.

Run: ``pip install 'sagemaker<3' && python scripts/framework_table.py``
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
warnings.filterwarnings("ignore")

import sagemaker  # noqa: E402
from sagemaker import image_uris  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "src/stepline/images/aws_frameworks.json"
CONFIG = Path(sagemaker.__file__).parent / "image_uri_config"
FRAMEWORKS = ("sklearn", "xgboost", "pytorch", "huggingface")
SCOPES = ("training", "inference")
INSTANCE = {"cpu": "ml.m5.xlarge", "gpu": "ml.g5.xlarge"}


def _parse(uri: str) -> tuple[str, str, str, str]:
    host, rest = uri.split("/", 1)
    account, _, _, region = host.split(".")[:4]
    repo, tag = rest.rsplit(":", 1)
    return account, region, repo, tag


def main() -> None:
    tags: dict[str, dict] = {}
    registries: dict[str, dict[str, str]] = {}
    for fw in FRAMEWORKS:
        table = json.loads((CONFIG / f"{fw}.json").read_text())
        for scope in SCOPES:
            section = table.get(scope)
            if not isinstance(section, dict):
                continue
            for version, spec in section.get("versions", {}).items():
                bases = [k for k in spec if k.startswith(("pytorch", "tensorflow"))]
                bases = [b for b in bases if b != "version_aliases"] or [None]
                for base in bases:
                    leaf = spec[base] if base else spec
                    if base and not base.startswith("pytorch"):
                        continue  # stepline builds the PyTorch flavour of Hugging Face only
                    for processor in leaf.get("processors", ["cpu", "gpu"]):
                        for py in leaf.get("py_versions", ["py3"]):
                            kwargs = dict(
                                region="us-east-1",
                                version=version,
                                py_version=py,
                                instance_type=INSTANCE.get(processor, INSTANCE["cpu"]),
                                image_scope=scope,
                            )
                            if base:
                                kwargs["base_framework_version"] = base
                            try:
                                uri = image_uris.retrieve(fw, **kwargs)
                            except Exception:  # noqa: BLE001 - combinations the SDK refuses
                                continue
                            _, _, repo, tag = _parse(uri)
                            entry = tags.setdefault(
                                f"{repo}:{tag}",
                                {
                                    "framework": fw,
                                    "version": version,
                                    "scopes": [],
                                    "processor": processor,
                                    "py": py,
                                    **({"base": base} if base else {}),
                                },
                            )
                            if scope not in entry["scopes"]:
                                entry["scopes"].append(scope)
                            registries.setdefault(repo, {}).update(leaf.get("registries", {}))
    data = {
        "generated_from": f"sagemaker {sagemaker.__version__} image_uri_config",
        "registries": {k: dict(sorted(v.items())) for k, v in sorted(registries.items())},
        "tags": dict(sorted(tags.items())),
    }
    OUT.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"{OUT}: {len(tags)} tags in {len(registries)} repositories")


if __name__ == "__main__":
    main()
