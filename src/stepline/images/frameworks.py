"""AWS's framework images, built locally on first use from recipes shipped with stepline.

A SageMaker user who writes ``SKLearn(entry_point="train.py", framework_version="1.2-1")``,
``PyTorch(...)``, ``XGBoost(...)`` or ``HuggingFace(...)`` never names an image: the SDK picks
one of AWS's, e.g. ``683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:
1.2-1-cpu-py3``.  stepline cannot pull those, so it recognises them (the table
``aws_frameworks.json``, generated from the SageMaker SDK's own ``image_uri_config`` by
``scripts/framework_table.py``) and builds an equivalent process image the first time one is
used: a venv with the framework at the URI's version, AWS's open-source toolkits
(``sagemaker-training`` for script mode, ``sagemaker-inference``'s handler contract for
serving) and an entry point that answers ``train`` and ``serve`` as AWS's images do.

* An image the user built or tagged locally under the same name always wins over the recipe,
  as a local image wins over a pull in docker.
* Where the URI's exact versions cannot be installed here (a Python 3.8 tag against this
  Python; a PyTorch build other than the one installed), the closest installable version is
  used and the image record says so (``framework.installed`` / ``framework.notes``).
* Every package a recipe installs is pinned (``framework_image/lock.json``, one variant per
  recipe, written by ``scripts/framework_lock.py``), so an image is reproducible; the record
  names the variant and lists what the recipe put in the image (``framework.image_packages``).
* Builds are cached by content like every image, and take the time of a pip install; a job
  waiting for one says so in its secondary status, and the wait does not count against its
  ``MaxRuntimeInSeconds``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepline.images.errors import ImageError, ImageNotFound
from stepline.images.registry import Image, ImageStore

_HERE = Path(__file__).resolve().parent
_FILES = _HERE / "framework_image"
_LOCK = _FILES / "lock.json"
_ECR = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[a-z0-9._/-]+):(?P<tag>[A-Za-z0-9_.-]+)$"
)
#: What every recipe copies into /opt/stepline-framework (from ``framework_image/``).
_FILE_NAMES = ("entry.py", "framework_training.py", "serve.py", "xgboost_algorithm.py")
#: The toolkits every recipe installs (AWS's own, from the package index).
TOOLKITS = ("sagemaker-training>=5,<6", "sagemaker-inference>=1.10,<2")
#: Packages whose sdists need a compiler or Rust: only wheels, in the lock and in the image.
ONLY_BINARY = ("scikit-learn", "xgboost", "xgboost-cpu", "numpy", "scipy", "tokenizers")

#: The exact versions AWS's image for a framework version installs, where its tag does not say
#: them all ("1.2-1" is scikit-learn 1.2.1; a Hugging Face image adds datasets and accelerate).
#: From AWS's Dockerfiles: sagemaker-scikit-learn-container docker/<v>/base/Dockerfile.cpu,
#: sagemaker-xgboost-container docker/<v>/base/Dockerfile.cpu, and deep-learning-containers
#: huggingface/pytorch/training (buildspec-2-3-0.yml, docker/2.3/py3/cu121/Dockerfile.gpu).
#: A version not listed installs the newest release of its minor version (and, for Hugging
#: Face, the newest datasets and accelerate that resolve beside its transformers).
AWS_PACKAGES: dict[tuple[str, str], dict[str, str]] = {
    ("sklearn", "1.2-1"): {"scikit-learn": "1.2.1"},
    ("sklearn", "1.4-2"): {"scikit-learn": "1.4.2"},
    ("xgboost", "1.7-1"): {"xgboost": "1.7.4"},
    ("xgboost", "3.0-5"): {"xgboost": "3.0.5"},
    ("huggingface", "4.48.0"): {
        "datasets": "3.1.0",
        "accelerate": "1.1.0",
        "huggingface-hub": "0.25.1",
    },
}
#: The oldest transformers that installs on Python 3.11: earlier ones need tokenizers<0.11,
#: which has no wheel for it (and would need Rust to build).
OLDEST_TRANSFORMERS = "4.17.0"


@functools.cache
def _table() -> dict[str, Any]:
    return json.loads((_HERE / "aws_frameworks.json").read_text())


@dataclass(frozen=True)
class FrameworkImage:
    """One of AWS's framework images, as its URI names it."""

    uri: str
    repository: str
    tag: str
    framework: str  # sklearn | xgboost | pytorch | huggingface
    version: str  # as AWS tags it: "1.2-1", "2.8.0", "4.56.2"
    scopes: tuple[str, ...]  # training, inference
    processor: str  # cpu | gpu
    py: str  # py3, py312, ...
    base: str | None = None  # Hugging Face: "pytorch2.8.0"

    @property
    def local_ref(self) -> str:
        """The local name the URI resolves to (``repository:tag``)."""
        return f"{self.repository}:{self.tag}"


def lookup(ref: str) -> FrameworkImage | None:
    """The framework image ``ref`` names: an AWS ECR URI from the SDK's tables, or its local
    ``repository:tag``.  None for anything else (a user's own image)."""
    m = _ECR.match(ref)
    if m:
        repo, tag = m.group("repo"), m.group("tag")
        accounts = _table()["registries"].get(repo, {})
        if m.group("account") not in accounts.values():
            return None
    else:
        repo, _, tag = ref.rpartition(":")
        if not repo or "/" in repo:
            return None
    entry = _table()["tags"].get(f"{repo}:{tag}")
    if entry is None:
        return None
    return FrameworkImage(
        uri=ref,
        repository=repo,
        tag=tag,
        framework=entry["framework"],
        version=entry["version"],
        scopes=tuple(entry["scopes"]),
        processor=entry["processor"],
        py=entry["py"],
        base=entry.get("base"),
    )


def _installed(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version))


def _minor(version: str) -> tuple[int, int]:
    nums = [int(x) for x in re.findall(r"\d+", version)[:2]] + [0, 0]
    return nums[0], nums[1]


@functools.cache
def _lock() -> dict[str, Any]:
    """The pinned versions each recipe installs (``framework_image/lock.json``, written by
    ``scripts/framework_lock.py``): empty while it is being generated."""
    try:
        return json.loads(_LOCK.read_text())
    except FileNotFoundError:
        return {"python": None, "variants": {}}


@dataclass(frozen=True)
class Recipe:
    """What the recipe for one image installs: its lock variant, the requirements (ranges, as
    the URI's versions allow), the exact versions the lock pins them and their dependencies
    to, and notes on what differs from the URI."""

    variant: str  # "sklearn-1.2.1", "xgboost-1.7", "pytorch", "huggingface-4.48.0"
    requirements: tuple[str, ...]
    pins: dict[str, str]
    notes: tuple[str, ...]

    def constraints(self) -> str:
        """The pins as a pip constraints file (the image installs nothing else)."""
        lines = [f"# stepline's framework lock, variant {self.variant}"]
        lines += [f"{name}=={version}" for name, version in sorted(self.pins.items())]
        return "\n".join(lines) + "\n"


def recipe(image: FrameworkImage) -> Recipe:
    """What the recipe installs for ``image`` on this Python.

    Versions are the URI's where a wheel for this Python exists (AWS's exact ones where
    :data:`AWS_PACKAGES` knows them: "1.2-1" is scikit-learn 1.2.1, and a Hugging Face image
    gets its transformers plus the datasets and accelerate AWS ships beside it); otherwise the
    closest one that installs, with a note.  Frameworks built before NumPy 2 get ``numpy<2``
    in the image (the host's NumPy may be newer).  Every package is then pinned by the lock
    variant, so two builds of one URI install the same versions whatever the index holds."""
    notes: list[str] = []
    major, minor = _minor(image.version)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if image.py not in ("py3", "py" + here.replace(".", "")):
        notes.append(f"the URI's Python is {image.py}; this image runs Python {here}")
    aws = AWS_PACKAGES.get((image.framework, image.version), {})
    if image.framework == "sklearn":
        # scikit-learn publishes wheels for Python 3.11 from 1.1.3 on; 1.4.2 added NumPy 2.
        if (major, minor) < (1, 1):
            notes.append(f"scikit-learn {image.version} has no wheel for this Python; using 1.1")
            major, minor = 1, 1
        exact = aws.get("scikit-learn")
        variant = f"sklearn-{exact or f'{major}.{minor}'}"
        reqs = [f"scikit-learn=={exact or f'{major}.{minor}.*'}"]
        if (major, minor) < (1, 4):
            # The host's pandas may need NumPy 2: give the image one that works with NumPy 1.
            reqs += ["numpy<2", "pandas>=2,<2.3"]
    elif image.framework == "xgboost":
        if (major, minor) < (1, 7):
            notes.append(f"xgboost {image.version} predates NumPy 2 support here; using 1.7")
            major, minor = 1, 7
        exact = aws.get("xgboost")
        variant = f"xgboost-{exact or f'{major}.{minor}'}"
        # xgboost-cpu (2.1+) is the same library without the CUDA runtime (a few MB, not 300).
        spec = exact or f"{major}.{minor}.*"
        reqs = [f"xgboost-cpu=={spec}" if major >= 2 else f"xgboost=={spec}"]
        reqs += ["scikit-learn"]  # the algorithm reads LIBSVM files with it
    elif image.framework in ("pytorch", "huggingface"):
        variant = "pytorch"
        torch = _installed("torch")
        wanted = image.version if image.framework == "pytorch" else (image.base or "")
        wanted = wanted.removeprefix("pytorch")
        if torch is None:
            raise ImageError(
                f"{image.uri}: PyTorch images reuse the installed torch; install it first "
                "(pip install torch==2.13.0 for the CPU build)"
            )
        if not torch.startswith(wanted):
            notes.append(f"torch {wanted} requested; using the installed torch {torch}")
        # torch stays the host's (a locked torch from PyPI drags in GBs of CUDA packages).
        reqs = [f"torch=={torch}"]
        if image.framework == "huggingface":
            # One variant per transformers version: the URI's, as AWS's image has it, with
            # the datasets and accelerate AWS ships beside it (its training scripts read
            # datasets with load_from_disk and train with Trainer, which needs accelerate).
            hf = re.search(r"transformers(\d+\.\d+\.\d+)", image.tag)
            want_tf = hf.group(1) if hf else image.version
            tf = want_tf
            if _release(want_tf) < _release(OLDEST_TRANSFORMERS):
                tf = OLDEST_TRANSFORMERS
                notes.append(
                    f"transformers {want_tf} has no installable tokenizers for this Python; "
                    f"using {tf}"
                )
            variant = f"huggingface-{tf}"
            reqs.append(f"transformers=={tf}")
            companions = AWS_PACKAGES.get(("huggingface", tf), {})
            for dist in ("datasets", "accelerate", "huggingface-hub"):
                if dist in companions:
                    reqs.append(f"{dist}=={companions[dist]}")
                elif dist != "huggingface-hub":
                    reqs.append(dist)
    else:  # pragma: no cover - the table holds only the four above
        raise ImageError(f"{image.uri}: no recipe for framework {image.framework}")
    if image.processor == "gpu":
        notes.append("a GPU image: CUDA is used when the machine has it, else the CPU")
    lock = _lock()
    if lock.get("python") not in (None, here):
        notes.append(f"the lock was resolved for Python {lock['python']}; this is {here}")
    pins = dict(lock["variants"].get(variant) or {})
    return Recipe(variant, tuple(reqs + list(TOOLKITS)), pins, tuple(notes))


def requirements(image: FrameworkImage) -> tuple[list[str], list[str]]:
    """(pip requirements, notes) of :func:`recipe`: what it asks for before the lock pins it."""
    made = recipe(image)
    return list(made.requirements), list(made.notes)


def dockerfile(image: FrameworkImage, reqs: list[str] | tuple[str, ...]) -> str:
    """The recipe, in the Dockerfile subset the process builder runs.  ``constraints.txt``
    (the lock variant's pins, :meth:`Recipe.constraints`) is copied in beside the files."""
    quoted = " ".join(f'"{r}"' for r in reqs)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        f"# stepline's recipe for {image.repository}:{image.tag}\n"
        f"FROM python:{py}\n"
        f"COPY {' '.join(_FILE_NAMES)} constraints.txt /opt/stepline-framework/\n"
        f"RUN pip install --only-binary={','.join(ONLY_BINARY)} "
        f"-c /opt/stepline-framework/constraints.txt {quoted}\n"
        f"ENV STEPLINE_FRAMEWORK={image.framework} PYTHONUNBUFFERED=1 "
        "SAGEMAKER_TRAINING_MODULE=framework_training:main "
        "HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1\n"
        f'LABEL com.stepline.framework="{image.framework}" '
        f'com.stepline.framework.version="{image.version}" '
        'com.stepline.toolkit="sagemaker-training"\n'
        'ENTRYPOINT ["python", "/opt/stepline-framework/entry.py"]\n'
    )


def _image_versions(image: Image, dists: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the versions of ``dists`` as the image sees them, every distribution the recipe
    installed into the image's own environment), asked of the image's interpreter."""
    if image.venv is None:
        return {}, {}
    code = (
        "import importlib.metadata as m, json, sys, sysconfig\n"
        "seen = {}\n"
        "for d in sys.argv[1:]:\n"
        "    try: seen[d] = m.version(d)\n"
        "    except m.PackageNotFoundError: pass\n"
        "own = sysconfig.get_paths()['purelib']\n"
        "added = {d.metadata['Name']: d.version for d in m.distributions(path=[own])}\n"
        "print(json.dumps([seen, added]))\n"
    )
    proc = subprocess.run(
        [str(image.venv / "bin" / "python"), "-c", code, *dists],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        seen, added = json.loads(proc.stdout)
    except ValueError:
        return {}, {}
    return seen, dict(sorted(added.items(), key=lambda kv: kv[0].lower()))


def recipe_digest(image: FrameworkImage) -> str:
    """What the recipe for ``image`` is made of, hashed: its Dockerfile, pins and files.  A
    local image built from an older recipe (an earlier stepline) is rebuilt; one the user
    built under the same name carries no recipe digest and is left alone."""
    made = recipe(image)
    h = hashlib.sha256(dockerfile(image, made.requirements).encode())
    h.update(made.constraints().encode())
    for name in _FILE_NAMES:
        h.update((_FILES / name).read_bytes())
    return h.hexdigest()


def build(image: FrameworkImage, *, log: Callable[[str], None] | None = None) -> Image:
    """Build (or find cached) the local image for ``image`` and tag it ``repository:tag``."""
    from stepline.images.build import build as build_image

    made = recipe(image)
    if not made.pins:
        raise ImageError(
            f"{image.uri}: stepline's framework lock has no pinned versions for "
            f"{made.variant!r}; regenerate it with scripts/framework_lock.py"
        )
    store = ImageStore()
    with tempfile.TemporaryDirectory(prefix="stepline-framework-") as tmp:
        ctx = Path(tmp)
        for name in _FILE_NAMES:
            shutil.copy2(_FILES / name, ctx / name)
        (ctx / "constraints.txt").write_text(made.constraints())
        (ctx / "Dockerfile").write_text(dockerfile(image, made.requirements))
        built = build_image(ctx, image.local_ref, runtime="process", log=log, store=store)
    record = store.record(built.digest) or {}
    if (record.get("framework") or {}).get("recipe") != recipe_digest(image):
        dists = [re.split(r"[=<>!~ ]", r, maxsplit=1)[0] for r in made.requirements]
        seen, added = _image_versions(built, dists)
        record["framework"] = {
            "uri": image.uri,
            "framework": image.framework,
            "requested": image.version,
            "processor": image.processor,
            "py": image.py,
            "installed": seen,
            "lock": made.variant,
            # What the recipe itself put in the image (the rest is the host's, at the
            # versions requirements/lock.txt pins), each at the lock's version.
            "image_packages": added,
            "notes": list(made.notes),
            "recipe": recipe_digest(image),
        }
        store.write_record(built.digest, record)
    return store.resolve(image.local_ref)


#: The built-in XGBoost algorithm's metrics (AWS's list), each for ``train`` and ``validation``.
XGBOOST_METRICS = (
    "accuracy", "auc", "aucpr", "error", "f1", "logloss", "mae", "map", "merror", "mlogloss",
    "mse", "ndcg", "rmse", "rmsle",
)  # fmt: skip


def algorithm_metric_definitions(
    image_uri: str, hyperparameters: dict[str, str] | None
) -> list[dict[str, str]]:
    """The metric definitions a built-in algorithm brings (SageMaker knows them, so requests
    carry none): for the XGBoost image without a user script, ``train:*``/``validation:*``
    read from lines such as ``[7]#011train-rmse:0.31#011validation-rmse:0.35``."""
    image = lookup(image_uri)
    if image is None or image.framework != "xgboost":
        return []
    if "sagemaker_program" in (hyperparameters or {}):
        return []  # script mode: the user's script and MetricDefinitions decide
    number = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
    return [
        {"Name": f"{split}:{m}", "Regex": rf".*\[[0-9]+\].*(?:\t|#011){split}-{m}:{number}.*"}
        for split in ("train", "validation")
        for m in XGBOOST_METRICS
    ]


def ensure(
    ref: str,
    *,
    log: Callable[[str], None] | None = None,
    on_build: Callable[[FrameworkImage], None] | None = None,
) -> Image:
    """The local image for ``ref``; for an AWS framework URI with no local image of that name,
    build it from the recipe first (``stepline images pull``, and jobs on first use).

    ``on_build`` is called before a build starts, so a job can say it is preparing its image."""
    store = ImageStore()
    try:
        found = store.resolve(ref)
    except ImageNotFound:
        image = lookup(ref)
        if image is None:
            raise
    else:
        made_by = (store.record(found.digest) or {}).get("framework") or {}
        image = lookup(ref) if made_by else None
        if image is None or made_by.get("recipe") == recipe_digest(image):
            return found  # the user's own image, or one built from today's recipe
    if on_build is not None:
        on_build(image)
    return build(image, log=log)


__all__ = [
    "FrameworkImage",
    "Recipe",
    "algorithm_metric_definitions",
    "build",
    "dockerfile",
    "ensure",
    "lookup",
    "recipe",
    "requirements",
]
