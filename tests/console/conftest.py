"""Fixtures for the console's tests.

The API's (``api_home``, ``engine``, ``token``, ``client``): an app over a private home,
driven in-process (no socket, no browser), one per test.

The browser suite's (``pipeline``, ``server``, ``browser``, ``page``): a live console over a
real pipeline (engine, uvicorn server, headless Chromium), session-scoped so the suite shares
one server and one browser; see ``console_support.py`` for the pipeline itself.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ECR,
    TRAIN_SCRIPT,
    Pipeline,
    flaky_definition,
    pipeline_definition,
)

# -- the API, in-process ------------------------------------------------------------------
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"

DEFINITION = {
    "StartAt": "Start",
    "States": {
        "Start": {"Type": "Pass", "Next": "Fan"},
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Each",
                    "States": {
                        "Each": {
                            "Type": "Map",
                            "ItemsPath": "$.items",
                            "ItemProcessor": {
                                "StartAt": "Twice",
                                "States": {
                                    "Twice": {
                                        "Type": "Task",
                                        "Resource": LAMBDA + "api_twice",
                                        "End": True,
                                    }
                                },
                            },
                            "End": True,
                        }
                    },
                },
                {
                    "StartAt": "Oops",
                    "States": {
                        "Oops": {
                            "Type": "Task",
                            "Resource": LAMBDA + "api_oops",
                            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Fine"}],
                            "End": True,
                        },
                        "Fine": {"Type": "Pass", "End": True},
                    },
                },
            ],
            "End": True,
        },
    },
}


@pytest.fixture
def api_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(home))
    monkeypatch.setenv("STEPLINE_STORE", "local")
    return home


@pytest.fixture
def engine(api_home: Path) -> Any:
    from stepline.engine import Engine
    from stepline.integrations import register_function

    def oops(event: Any) -> Any:
        raise KeyError("missing")

    register_function("api_twice", lambda event: event * 2)
    register_function("api_oops", oops)
    eng = Engine(api_home)
    eng.create_state_machine("api-demo", DEFINITION)
    return eng


@pytest.fixture
def token(api_home: Path) -> str:
    """The home's console token (every /api call needs it)."""
    from stepline.console import security

    return security.console_token()


@pytest.fixture
def client(engine: Any, token: str) -> Iterator[Any]:
    """An API client as scripts use it: loopback Host, the token in a header."""
    from fastapi.testclient import TestClient

    from stepline.console import create_app

    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(engine), base_url="http://127.0.0.1", headers=headers) as c:
        yield c


# -- the browser suite --------------------------------------------------------------------


@pytest.fixture(scope="session")
def console_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("console-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEPLINE_HOME", str(home))
        mp.setenv("STEPLINE_STORE", "local")
        mp.setenv("STEPLINE_JOB_STOP_GRACE", "1")
        yield home


@pytest.fixture(scope="session")
def pipeline(console_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    from stepline import images, jobs
    from stepline.engine import Engine
    from stepline.integrations import register_function
    from stepline.storage import get_store

    get_store().create_bucket("console")
    ctx = tmp_path_factory.mktemp("train-image")
    (ctx / "train.py").write_text(textwrap.dedent(TRAIN_SCRIPT))
    (ctx / "Dockerfile").write_text(
        "FROM python:3.11\nCOPY train.py /opt/program/train.py\n"
        'ENTRYPOINT ["python", "/opt/program/train.py"]\n'
    )
    images.build(ctx, "console-train:latest", runtime="process")
    engine = Engine(console_home)
    p = Pipeline(engine, f"{ECR}/console-train:latest")

    def gate(event: Any, context: Any) -> dict:
        execution = context.execution_arn.rsplit(":", 1)[-1]
        p.reached(execution).set()
        deadline = time.time() + 60
        while not p.gate(execution).wait(0.05):
            if context.cancelled.is_set() or time.time() > deadline:
                raise TimeoutError("gate never opened")
        return {"gate": "open"}

    def boom(event: Any) -> Any:
        raise ValueError("the risky step failed on purpose")

    def train(event: Any, context: Any) -> dict:
        execution = context.execution_arn.rsplit(":", 1)[-1]
        name = f"train-{execution}"[:63]
        jobs.create_training_job(
            {
                "TrainingJobName": name,
                "RoleArn": "arn:aws:iam::123456789012:role/ConsoleTestRole",
                "AlgorithmSpecification": {
                    "TrainingImage": p.image,
                    "TrainingInputMode": "File",
                    "MetricDefinitions": [{"Name": "train:loss", "Regex": "loss=([0-9.]+);"}],
                },
                "HyperParameters": {"epochs": "3", "release": p.release_url(name)},
                "Environment": {"CONSOLE_TEST": "yes"},
                "OutputDataConfig": {"S3OutputPath": "s3://console/models"},
                "ResourceConfig": {
                    "InstanceType": "ml.m5.large",
                    "InstanceCount": 1,
                    "VolumeSizeInGB": 1,
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": 120},
            }
        )
        record = jobs.wait("training", name, timeout=90)
        return {"job": name, "status": record.status}

    def first(event: Any) -> dict:
        p.first_calls += 1
        return {"first": p.first_calls}

    def flaky(event: Any) -> dict:
        if not p.flaky_ok:
            raise RuntimeError("flaky step is not ready")
        return {"ok": True}

    register_function("console_double", lambda event: event * 2)
    register_function("console_boom", boom)
    register_function("console_gate", gate)
    register_function("console_train", train)
    register_function("console_first", first)
    register_function("console_flaky", flaky)
    engine.create_state_machine("console-pipeline", pipeline_definition())
    engine.create_state_machine("flaky", flaky_definition())
    yield p
    for event in p.gates.values():
        event.set()
    p.close()


@pytest.fixture(scope="session")
def console_token(console_home: Path) -> str:
    """The home's console token (what `stepline ui` puts in the URL it prints)."""
    from stepline.console import security

    return security.console_token()


@pytest.fixture(scope="session")
def server(pipeline: Pipeline, console_token: str) -> Iterator[str]:
    from stepline.console import create_app, running

    with running(create_app(pipeline.engine, token=console_token)) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: str, console_token: str) -> Iterator[Any]:
    """A page logged in as a user is: by opening the URL with the token once.

    At the end it checks that nothing was loaded from outside and that no page logged an
    error (a JavaScript error, a failed request such as a 404, or a console error)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, base_url=server)
    pg = context.new_page()
    external: list[str] = []
    errors: list[str] = []
    pg.on(
        "request",
        lambda r: external.append(r.url) if not r.url.startswith((server, "data:")) else None,
    )
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    pg.set_default_timeout(10000)
    pg.goto(f"/?token={console_token}")
    assert pg.url == server + "/", f"the token stayed in the address bar: {pg.url}"
    yield pg
    context.close()
    assert not external, f"the console loaded assets from outside: {external}"
    assert not errors, f"the console logged errors: {errors}"
