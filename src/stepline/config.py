"""Where stepline keeps its state, and the settings every layer reads.

Everything lives under ``$STEPLINE_HOME`` (default ``~/.stepline``) so that a project can be
moved, backed up or wiped as one folder, and so that no server is needed to use stepline:
``stepline.db`` (SQLite, WAL) for state machines, executions, history and job records,
``objects/`` for the embedded object store, ``images/`` for built images, ``jobs/`` for job
folders, and ``config.toml`` for settings.

Settings are looked up in one order everywhere: the environment wins, then
``$STEPLINE_HOME/config.toml`` (``[section] key = value``), then the default.  The AWS identity
that every ARN, the AWS-compatible API and job environments use is set here once:

========================  ===========================  ==================
environment               config.toml                  default
========================  ===========================  ==================
``STEPLINE_ACCOUNT_ID``   ``[aws] account_id``         ``000000000000``
``STEPLINE_REGION``       ``[aws] region``             ``us-east-1``
========================  ===========================  ==================
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

DEFAULT_ACCOUNT_ID = "000000000000"
DEFAULT_REGION = "us-east-1"


class ConfigError(ValueError):
    """``config.toml`` (or a setting in the environment) is malformed; the message names it."""


def home() -> Path:
    """Return (and create) the stepline home folder."""
    path = Path(os.environ.get("STEPLINE_HOME") or Path.home() / ".stepline").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path() -> Path:
    """The SQLite database shared by the engine and the job records."""
    return home() / "stepline.db"


def load_file() -> dict[str, Any]:
    """The parsed ``$STEPLINE_HOME/config.toml`` (or legacy ``config.json``); ``{}`` if none.

    Read on every call, not cached: settings are small and a long-running server should see
    an edit without a restart."""
    base = home()
    toml_path, json_path = base / "config.toml", base / "config.json"
    try:
        if toml_path.exists():
            data = tomllib.loads(toml_path.read_text())
        elif json_path.exists():
            data = json.loads(json_path.read_text())
        else:
            return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read stepline config in {base}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{base}/config.toml: the top level must be a table")
    return data


def section(name: str) -> dict[str, Any]:
    """One ``[name]`` table of the config file (``{}`` if absent)."""
    value = load_file().get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"config.toml: [{name}] must be a table")
    return value


def setting(name: str, key: str, env: str | None = None, default: Any = None) -> Any:
    """``$env`` if set and non-empty, else ``[name] key`` from config.toml, else ``default``."""
    if env:
        value = os.environ.get(env)
        if value:
            return value
    return section(name).get(key, default)


def account_id() -> str:
    """The 12-digit AWS account id that ARNs, STS and bucket owners use."""
    value = str(setting("aws", "account_id", "STEPLINE_ACCOUNT_ID", DEFAULT_ACCOUNT_ID))
    if not re.fullmatch(r"\d{12}", value):
        raise ConfigError(f"aws.account_id / STEPLINE_ACCOUNT_ID: {value!r} is not 12 digits")
    return value


def region() -> str:
    """The AWS region name that ARNs and the AWS-compatible API use."""
    value = str(setting("aws", "region", "STEPLINE_REGION", DEFAULT_REGION))
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", value):
        raise ConfigError(f"aws.region / STEPLINE_REGION: {value!r} is not a region name")
    return value


def arn(service: str, resource: str, *, region_name: str | None = None) -> str:
    """``arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE`` with the configured identity.

    IAM is global, so its ARNs carry no region."""
    reg = "" if service == "iam" else (region_name or region())
    return f"arn:aws:{service}:{reg}:{account_id()}:{resource}"
