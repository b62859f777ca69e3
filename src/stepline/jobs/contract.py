"""The SageMaker container contract: what a job's container sees under ``/opt/ml``.

Pure functions from a (validated) request to config files, environment and command line, so
the contract can be read and tested in one place.  Sources are in
``shared/design/sagemaker-contract.md``: the platform contract ([doc]) and what the SageMaker
training toolkit adds for framework and script-mode jobs ([toolkit]).
"""

from __future__ import annotations

import json
import posixpath
import shlex
from typing import Any

from stepline import wiring
from stepline.jobs import kinds

ML = "/opt/ml"
CODE_DIR = "/opt/ml/code"
CURRENT_HOST = "algo-1"
HOSTS = [CURRENT_HOST]
NETWORK_INTERFACE = "eth0"
INSTANCE_GROUP = "homogeneousCluster"
#: Hyperparameters the toolkit keeps for itself ([toolkit] ``params.py``).
FRAMEWORK_PREFIXES = ("sagemaker_", "_tuning_objective_metric")


def default_checkpoint_path() -> str:
    """``CheckpointConfig.LocalPath``'s default."""
    return "/opt/ml/checkpoints"


# -- container paths -----------------------------------------------------------------------

#: Container folders a request may not put a mount on (the sandbox's own file systems).
_RESERVED = ("proc", "dev", "sys")


def container_path_errors(
    request: dict[str, Any], kind: str
) -> tuple[list[str], list[tuple[tuple[Any, ...], str]]]:
    """Problems with every container path of a request, and the normalised values.

    Returns ``(errors, fixes)``: each error names its field (``"ProcessingInputs[0].S3Input.
    LocalPath: ..."``); each fix is ``(path of keys, normalised value)`` to write back.  A
    path must be absolute, free of NUL and of ``..`` (a path is checked before it is
    normalised, so ``/opt/ml/processing/../../etc`` is refused, not quietly shortened), and
    stay under its root (``/opt/ml/processing/`` for processing).  Channel names are folder
    names under ``/opt/ml/input/data``, so ``.`` and ``..`` are refused too.  Which fields
    are container paths or folder names is the kind's fact (:mod:`stepline.jobs.kinds`).
    """
    errors: list[str] = []
    fixes: list[tuple[tuple[Any, ...], str]] = []

    def check(where: str, keys: tuple[Any, ...], value: Any, under: str | None) -> None:
        if not isinstance(value, str) or not value.startswith("/"):
            errors.append(f"{where}: must be an absolute path (got {value!r})")
            return
        if "\x00" in value:
            errors.append(f"{where}: must not contain NUL")
            return
        if ".." in value.split("/"):
            errors.append(f"{where}: '..' is not allowed in a container path ({value!r})")
            return
        norm = "/" + posixpath.normpath(value).lstrip("/")
        if under is not None and not norm.startswith(under + "/"):
            errors.append(f"{where}: must be a folder under {under}/ (got {value!r})")
            return
        if norm == "/" or norm.strip("/").split("/")[0] in _RESERVED:
            errors.append(f"{where}: {value!r} is a reserved container path")
            return
        if norm != value:
            fixes.append((keys, norm))

    spec = kinds.get(kind)
    for where, name, parent in spec.folder_names(request):
        if name in (".", ".."):
            errors.append(f"{where}: {name!r} is not a folder name under {parent}")
    for where, keys, value, under in spec.container_paths(request):
        check(where, keys, value, under)
    return errors, fixes


def normalise_container_paths(request: dict[str, Any], kind: str) -> list[str]:
    """Check every container path of ``request`` (see :func:`container_path_errors`) and
    write the normalised forms back; returns the errors (empty when all are good)."""
    errors, fixes = container_path_errors(request, kind)
    if not errors:
        for keys, value in fixes:
            target: Any = request
            for key in keys[:-1]:
                target = target[key]
            target[keys[-1]] = value
    return errors


# -- training ------------------------------------------------------------------------------


def resource_config(instance_type: str) -> dict[str, Any]:
    """``/opt/ml/input/config/resourceconfig.json`` for the single local host."""
    return {
        "current_host": CURRENT_HOST,
        "current_instance_type": instance_type,
        "current_group_name": INSTANCE_GROUP,
        "hosts": list(HOSTS),
        "instance_groups": [
            {
                "instance_group_name": INSTANCE_GROUP,
                "instance_type": instance_type,
                "hosts": list(HOSTS),
            }
        ],
        "network_interface_name": NETWORK_INTERFACE,
    }


def input_data_config(request: dict[str, Any]) -> dict[str, Any]:
    """``/opt/ml/input/config/inputdataconfig.json``: one entry per channel."""
    default_mode = request.get("AlgorithmSpecification", {}).get("TrainingInputMode", "File")
    out: dict[str, Any] = {}
    for channel in request.get("InputDataConfig", []):
        entry: dict[str, Any] = {}
        if "ContentType" in channel:
            entry["ContentType"] = channel["ContentType"]
        entry["TrainingInputMode"] = channel.get("InputMode", default_mode)
        s3 = channel.get("DataSource", {}).get("S3DataSource", {})
        entry["S3DistributionType"] = s3.get("S3DataDistributionType", "FullyReplicated")
        entry["RecordWrapperType"] = channel.get("RecordWrapperType", "None")
        out[channel["ChannelName"]] = entry
    return out


def decode_hyperparameter(value: str) -> Any:
    """The toolkit's reading of a hyperparameter: JSON if it parses, else the raw string."""
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value


def split_hyperparameters(hps: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(user hyperparameters, framework ``sagemaker_*`` parameters), decoded."""
    user, framework = {}, {}
    for key, value in hps.items():
        target = framework if key.startswith(FRAMEWORK_PREFIXES) else user
        target[key] = decode_hyperparameter(value)
    return user, framework


def _env_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def to_cmd_args(hps: dict[str, Any]) -> list[str]:
    """``--key value`` per user hyperparameter, sorted ([toolkit] ``mapping.to_cmd_args``)."""
    args: list[str] = []
    for key in sorted(hps):
        value = hps[key]
        flag = f"-{key}" if len(key) == 1 else f"--{key}"
        if isinstance(value, dict):
            text = ",".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value)
        args.extend([flag, text])
    return args


def script_mode(request: dict[str, Any]) -> dict[str, Any] | None:
    """``{"program", "submit_directory"}`` when the job is a script-mode job, else None.

    Script mode = the ``sagemaker_program`` hyperparameter (or ``SAGEMAKER_PROGRAM`` in the
    environment), as the SageMaker Python SDK's framework estimators send it.
    """
    _, framework = split_hyperparameters(request.get("HyperParameters", {}))
    env = request.get("Environment", {})
    program = framework.get("sagemaker_program") or env.get("SAGEMAKER_PROGRAM")
    if not program:
        return None
    submit = framework.get("sagemaker_submit_directory") or env.get("SAGEMAKER_SUBMIT_DIRECTORY")
    return {"program": str(program), "submit_directory": submit}


def aws_environment() -> dict[str, str]:
    """What job code needs to call AWS with boto3 against ``stepline server``: the endpoint,
    this home's credentials and the region, as a SageMaker job gets its execution role's
    credentials.  The request's ``Environment`` still wins over these."""
    return wiring.job_environment()  # the AWS API's (registered by the composition root)


def training_env(
    request: dict[str, Any],
    arn: str,
    *,
    cpus: int,
    gpus: int,
    region: str,
) -> dict[str, str]:
    """Environment of a training container: the platform's variables, the request's
    ``Environment``, and the ``SM_*`` variables of the training toolkit (framework images
    compute the same values themselves; plain images running script mode get them from us).
    """
    name = request["TrainingJobName"]
    env = _toolkit_variables(_toolkit_facts(request, cpus=cpus, gpus=gpus), name)
    env.update(aws_environment())
    env.update(
        {
            "AWS_DEFAULT_REGION": region,
            "SAGEMAKER_JOB_NAME": name,
            "SAGEMAKER_REGION": region,
            "CURRENT_HOST": CURRENT_HOST,
            "AWS_REGION": region,
            "TRAINING_JOB_NAME": name,
            "TRAINING_JOB_ARN": arn,
        }
    )
    env.update(request.get("Environment", {}))
    return env


def _toolkit_facts(request: dict[str, Any], *, cpus: int, gpus: int) -> dict[str, Any]:
    """What the training toolkit's ``_env.TrainingEnv`` knows, by its names ([toolkit])."""
    instance_type = request["ResourceConfig"]["InstanceType"]
    user, framework = split_hyperparameters(request.get("HyperParameters", {}))
    channels = sorted(c["ChannelName"] for c in request.get("InputDataConfig", []))
    script = script_mode(request) or {}
    program = script.get("program", "")
    return {
        "hosts": HOSTS,
        "network_interface_name": NETWORK_INTERFACE,
        "hps": user,
        "user_entry_point": program,
        "framework_params": framework,
        "resource_config": resource_config(instance_type),
        "input_data_config": input_data_config(request),
        "output_data_dir": "/opt/ml/output/data",
        "channels": channels,
        "current_host": CURRENT_HOST,
        "current_instance_type": instance_type,
        "current_instance_group": INSTANCE_GROUP,
        "current_instance_group_hosts": HOSTS,
        "instance_groups": [INSTANCE_GROUP],
        "instance_groups_dict": {
            INSTANCE_GROUP: {
                "instance_group_name": INSTANCE_GROUP,
                "instance_type": instance_type,
                "hosts": HOSTS,
            }
        },
        "distribution_instance_groups": [],
        "is_hetero": False,
        "module_name": program[:-3] if program.endswith(".py") else program,
        "log_level": int(framework.get("sagemaker_container_log_level", 20)),
        "framework_module": "",
        "input_dir": "/opt/ml/input",
        "input_config_dir": "/opt/ml/input/config",
        "output_dir": "/opt/ml/output",
        "num_cpus": cpus,
        "num_gpus": gpus,
        "num_neurons": 0,
        "model_dir": "/opt/ml/model",
        "module_dir": script.get("submit_directory") or "",
        "user_args": to_cmd_args(user),
        "output_intermediate_dir": "/opt/ml/output/intermediate",
    }


def _toolkit_variables(sm: dict[str, Any], name: str) -> dict[str, str]:
    """``SM_*`` from the toolkit's facts: one per fact, ``SM_TRAINING_ENV`` (all of them
    plus the job name, channel folders and hyperparameters), ``SM_CHANNEL_*``, ``SM_HP_*``."""
    channels, user = sm["channels"], sm["hps"]
    training_env_doc = dict(sm)
    training_env_doc["job_name"] = name
    training_env_doc["channel_input_dirs"] = {c: f"/opt/ml/input/data/{c}" for c in channels}
    training_env_doc["hyperparameters"] = user
    env = {f"SM_{key.upper()}": _env_value(value) for key, value in sm.items()}
    env["SM_TRAINING_ENV"] = _env_value(training_env_doc)
    for channel in channels:
        env[f"SM_CHANNEL_{channel.upper()}"] = f"/opt/ml/input/data/{channel}"
    for key, value in user.items():
        env[f"SM_HP_{key.upper()}"] = _env_value(value)
    return env


def training_command(
    request: dict[str, Any], *, toolkit: bool = False
) -> tuple[list[str] | None, list[str] | None]:
    """(entrypoint, command) with Docker semantics for ``docker run IMAGE train``.

    Neither override: the image's ENTRYPOINT gets ``train``.  ``ContainerEntrypoint`` only:
    it replaces ENTRYPOINT and no ``train`` is passed.  ``ContainerArguments`` only: they
    replace ``train``.  Both: both replaced.  In script mode without overrides, an image
    that carries AWS's training toolkit (``toolkit``: stepline's framework images) gets
    ``train`` and the toolkit does script mode itself, as on AWS; for any other image
    stepline does what the toolkit's ``train`` does: run the program from ``/opt/ml/code``
    with the user hyperparameters as ``--key value`` arguments.
    """
    spec = request.get("AlgorithmSpecification", {})
    entrypoint = spec.get("ContainerEntrypoint")
    arguments = spec.get("ContainerArguments")
    script = script_mode(request)
    if script and entrypoint is None and arguments is None and not toolkit:
        user, _ = split_hyperparameters(request.get("HyperParameters", {}))
        program = script["program"]
        args = to_cmd_args(user)
        if program.endswith(".py"):
            run = 'cd "$0" && exec python "$@"'
        elif program.endswith(".sh"):
            run = 'cd "$0" && exec /bin/sh "$@"'
        else:
            run = 'cd "$0" && p="$1" && shift && exec "./$p" "$@"'
        return ["/bin/sh", "-c", run, CODE_DIR, program, *args], []
    if entrypoint is not None:
        return list(entrypoint), list(arguments) if arguments is not None else []
    return None, list(arguments) if arguments is not None else ["train"]


def user_command(request: dict[str, Any]) -> str:
    """The command that ran a script-mode program, as the training toolkit reports it in
    ``FailureReason`` (``python train.py --epochs 1``), never the sandbox's command line."""
    script = script_mode(request) or {}
    user, _ = split_hyperparameters(request.get("HyperParameters", {}))
    program = str(script.get("program") or "")
    launcher = {".py": ["python"], ".sh": ["/bin/sh"]}.get(posixpath.splitext(program)[1], [])
    return shlex.join([*launcher, program if launcher else f"./{program}", *to_cmd_args(user)])


# -- processing ----------------------------------------------------------------------------


def processing_job_config(request: dict[str, Any], arn: str) -> dict[str, Any]:
    """``/opt/ml/config/processingjobconfig.json``: the request echoed, defaults filled in,
    nulls kept for unset fields (as SageMaker writes it)."""
    app = request["AppSpecification"]
    inputs = []
    for item in request.get("ProcessingInputs", []):
        entry = {"InputName": item["InputName"], "AppManaged": item.get("AppManaged", False)}
        if "S3Input" in item:
            s3 = item["S3Input"]
            entry["S3Input"] = {
                "LocalPath": s3.get("LocalPath"),
                "S3Uri": s3["S3Uri"],
                "S3DataDistributionType": s3.get("S3DataDistributionType", "FullyReplicated"),
                "S3DataType": s3["S3DataType"],
                "S3InputMode": s3.get("S3InputMode", "File"),
                "S3CompressionType": s3.get("S3CompressionType", "None"),
                "S3DownloadMode": "StartOfJob",
            }
        inputs.append(entry)
    outputs = []
    for item in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
        entry = {"OutputName": item["OutputName"], "AppManaged": item.get("AppManaged", False)}
        if "S3Output" in item:
            entry["S3Output"] = {
                "LocalPath": item["S3Output"].get("LocalPath"),
                "S3Uri": item["S3Output"]["S3Uri"],
                "S3UploadMode": item["S3Output"]["S3UploadMode"],
            }
        outputs.append(entry)
    cluster = request["ProcessingResources"]["ClusterConfig"]
    return {
        "ProcessingJobArn": arn,
        "ProcessingJobName": request["ProcessingJobName"],
        "AppSpecification": {
            "ImageUri": app["ImageUri"],
            "ContainerEntrypoint": app.get("ContainerEntrypoint"),
            "ContainerArguments": app.get("ContainerArguments"),
        },
        "Environment": request.get("Environment", {}),
        "NetworkConfig": request.get("NetworkConfig"),
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {
            "Outputs": outputs,
            "KmsKeyId": request.get("ProcessingOutputConfig", {}).get("KmsKeyId"),
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": cluster["InstanceCount"],
                "InstanceType": cluster["InstanceType"],
                "VolumeSizeInGB": cluster["VolumeSizeInGB"],
                "VolumeKmsKeyId": cluster.get("VolumeKmsKeyId"),
            }
        },
        "RoleArn": request["RoleArn"],
        "StoppingCondition": {
            "MaxRuntimeInSeconds": request.get("StoppingCondition", {}).get(
                "MaxRuntimeInSeconds", 86400
            )
        },
    }


def processing_resource_config() -> dict[str, Any]:
    """``/opt/ml/config/resourceconfig.json`` for processing."""
    return {"current_host": CURRENT_HOST, "hosts": list(HOSTS)}


def processing_command(request: dict[str, Any]) -> tuple[list[str] | None, list[str] | None]:
    """(entrypoint, command): ``docker run IMAGE`` with the overrides' Docker semantics."""
    app = request["AppSpecification"]
    entrypoint = app.get("ContainerEntrypoint")
    arguments = app.get("ContainerArguments")
    return (
        list(entrypoint) if entrypoint is not None else None,
        list(arguments) if arguments is not None else None,
    )
