"""Every instance type AWS accepts is sized (issue 13): the table covers botocore's enums."""

from __future__ import annotations

import botocore.session
import pytest

from stepline.jobs.runtimes import INSTANCE_TYPES, Resources, resources_for

GiB = 1 << 30


def _botocore_instance_types() -> dict[str, set[str]]:
    """Enum name -> its ``ml.*`` values, for every instance-type enum in SageMaker's model."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    enums: dict[str, set[str]] = {}
    for name in model.shape_names:
        shape = model.shape_for(name)
        values = getattr(shape, "enum", None) or []
        # Elastic Inference accelerators (ml.eia*) attach to an instance; they are not one.
        if "Accelerator" in name or not any(v.startswith("ml.") for v in values):
            continue
        enums[name] = {v for v in values if v.startswith("ml.")}
    return enums


def test_every_botocore_instance_type_is_in_the_table() -> None:
    enums = _botocore_instance_types()
    for required in (
        "TrainingInstanceType",
        "ProcessingInstanceType",
        "TransformInstanceType",
        "ProductionVariantInstanceType",
    ):
        assert required in enums, f"botocore no longer has {required}"
    missing = {name: sorted(v - INSTANCE_TYPES.keys()) for name, v in enums.items()}
    missing = {name: v for name, v in missing.items() if v}
    assert not missing, f"instance types botocore accepts but stepline cannot size: {missing}"


def test_table_figures_are_sane_and_spot_checked() -> None:
    for name, (cpus, mem, gpus) in INSTANCE_TYPES.items():
        assert cpus >= 1 and mem >= 0.5 and gpus >= 0, name
    # Irregular ones, from AWS's spec pages.
    assert INSTANCE_TYPES["ml.c4.2xlarge"] == (8, 15, 0)  # AWS's own notebook's type
    assert INSTANCE_TYPES["ml.c5n.9xlarge"] == (36, 96, 0)
    assert INSTANCE_TYPES["ml.m4.10xlarge"] == (40, 160, 0)
    assert INSTANCE_TYPES["ml.g5.12xlarge"] == (48, 192, 4)
    assert INSTANCE_TYPES["ml.g6e.48xlarge"] == (192, 1536, 8)
    assert INSTANCE_TYPES["ml.p4d.24xlarge"] == (96, 1152, 8)
    assert INSTANCE_TYPES["ml.t3.medium"] == (2, 4, 0)
    assert INSTANCE_TYPES["ml.r7gd.medium"] == (1, 8, 0)


@pytest.mark.parametrize("instance_type", sorted(INSTANCE_TYPES))
def test_every_type_runs_scaled_down_on_a_small_host(instance_type: str) -> None:
    host = Resources(cpus=1, memory_bytes=2 * GiB, gpus=0)
    res, notes = resources_for(instance_type, host, where="the largest Ray node")
    assert res.cpus <= 1 and res.memory_bytes <= 2 * GiB and res.gpus == 0
    cpus, mem, gpus = INSTANCE_TYPES[instance_type]
    if cpus > 1 or mem > 2 or gpus:
        assert any("larger than the largest Ray node; running scaled down" in n for n in notes)


def test_accelerator_types_say_they_run_on_cpu() -> None:
    _, notes = resources_for("ml.trn1.2xlarge", Resources(64, 512 * GiB, 0))
    assert notes == ["ml.trn1.2xlarge has AWS Trainium accelerators; running on CPU"]
