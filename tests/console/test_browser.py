"""The console in real headless Chromium against real executions and a real training job."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from console_support import Pipeline, screenshot
from playwright.sync_api import expect

pytestmark = pytest.mark.chromium


def node(page: Any, node_id: str) -> Any:
    return page.locator(f'#exec-graph g.node[data-node="{node_id}"]')


def wait_status(page: Any, node_id: str, status: str, timeout: float = 15000) -> None:
    expect(node(page, node_id)).to_have_attribute("data-status", status, timeout=timeout)


def test_execution_graph_live_then_final(page: Any, pipeline: Pipeline) -> None:
    name = "live-run"
    pipeline.engine.start_execution("console-pipeline", {"run": 1}, name=name, wait=False)
    assert pipeline.reached(name).wait(10)

    page.goto(f"/#/executions/{name}")
    # While Gate blocks: the Parallel and Gate run, everything else in it is done.
    wait_status(page, "Prepare", "succeeded")
    wait_status(page, "Fan", "running")
    wait_status(page, "Fan/2/Gate", "running")
    wait_status(page, "Fan/0/Each", "succeeded")
    wait_status(page, "Fan/0/Each/0/Double", "succeeded")
    wait_status(page, "Fan/1/Risky", "caught")
    wait_status(page, "Fan/1/Recover", "succeeded")
    wait_status(page, "Train", "not_run")
    wait_status(page, "Done", "not_run")
    expect(page.locator("#exec-summary")).to_contain_text("RUNNING")
    expect(page.locator("#stop")).to_be_enabled()
    expect(page.locator("#redrive")).to_be_disabled()
    # Parallel and Map are drawn as groups around their branches.
    assert page.locator('#exec-graph g.cluster.group[data-group="Fan"]').count() == 1
    assert page.locator('#exec-graph g.cluster.group[data-group="Fan/0/Each"]').count() == 1
    assert page.locator("#exec-graph g.cluster.branch").count() == 4  # 3 branches + processor
    screenshot(page, "execution-running")

    # The caught state shows its error; a Map state's iterations are listed.
    node(page, "Fan/1/Risky").click()
    expect(page.locator("#detail-status")).to_have_text("caught error")
    expect(page.locator("#detail-error")).to_contain_text("ValueError")
    expect(page.locator("#detail-error")).to_contain_text("the risky step failed on purpose")
    node(page, "Fan/0/Each/0/Double").click()
    expect(page.locator("#state-detail")).to_contain_text("Iterations (3)")
    expect(page.locator("#detail-output")).to_contain_text("6")

    # Open the gate: the page turns green without a reload (the job starts, then is released).
    marker = page.evaluate("window.__marker = Math.random()")
    pipeline.gate(name).set()
    wait_status(page, "Fan/2/Gate", "succeeded")
    wait_status(page, "Train", "running")
    job = f"train-{name}"
    deadline = time.time() + 20
    while job not in pipeline.released and time.time() < deadline:
        from stepline.jobs import records

        rec = records.get("training", job)
        if rec is not None and rec.status == "InProgress" and rec.secondary_status == "Training":
            pipeline.release_job(job)
        time.sleep(0.05)
    wait_status(page, "Train", "succeeded", timeout=30000)
    wait_status(page, "Done", "succeeded")
    wait_status(page, "Fan", "succeeded")
    expect(page.locator("#exec-summary")).to_contain_text("SUCCEEDED")
    assert page.evaluate("window.__marker") == marker, "the page reloaded"
    expect(page.locator("#stop")).to_be_disabled()

    # Clicking a state shows its input, output and timing.
    node(page, "Train").click()
    expect(page.locator("#detail-status")).to_have_text("succeeded")
    expect(page.locator("#detail-output")).to_contain_text(job)
    expect(page.locator("#detail-output")).to_contain_text("Completed")
    expect(page.locator("#detail-input")).to_contain_text("recovered")
    expect(page.locator("#state-detail")).to_contain_text("Duration")
    # The event history table has every event, in order.
    history = pipeline.engine.get_execution_history(name)
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(len(history))
    expect(rows.first).to_contain_text("ExecutionStarted")
    expect(rows.last).to_contain_text("ExecutionSucceeded")
    expect(page.locator('#history tr[data-type="LambdaFunctionFailed"]')).to_contain_text("Risky")
    screenshot(page, "execution-succeeded")


def test_failed_execution_redrive_and_cached(page: Any, pipeline: Pipeline) -> None:
    name = "flaky-run"
    pipeline.flaky_ok = False
    pipeline.engine.start_execution("flaky", {}, name=name, wait=True)
    page.goto(f"/#/executions/{name}")
    wait_status(page, "First", "succeeded")
    wait_status(page, "Second", "failed")
    expect(page.locator("#exec-summary")).to_contain_text("FAILED")
    node(page, "Second").click()
    expect(page.locator("#detail-error")).to_contain_text("RuntimeError")
    expect(page.locator("#redrive")).to_be_enabled()
    screenshot(page, "execution-failed")

    calls = pipeline.first_calls
    pipeline.flaky_ok = True
    page.locator("#redrive").click()
    wait_status(page, "Second", "succeeded")
    wait_status(page, "First", "cached")
    expect(page.locator("#exec-summary")).to_contain_text("SUCCEEDED")
    expect(page.locator('#history tr[data-type="ExecutionRedriven"]')).to_have_count(1)
    assert pipeline.first_calls == calls, "redrive ran the succeeded state again"
    screenshot(page, "execution-redriven")


def test_stop_button(page: Any, pipeline: Pipeline) -> None:
    name = "stopped-run"
    pipeline.engine.start_execution("console-pipeline", {}, name=name, wait=False)
    assert pipeline.reached(name).wait(10)
    page.goto(f"/#/executions/{name}")
    wait_status(page, "Fan/2/Gate", "running")
    page.locator("#stop").click()
    expect(page.locator("#exec-summary")).to_contain_text("ABORTED", timeout=15000)
    wait_status(page, "Fan/2/Gate", "cancelled")
    wait_status(page, "Train", "not_run")
    expect(page.locator("#redrive")).to_be_enabled()
    assert pipeline.engine.describe_execution(name)["status"] == "ABORTED"


def test_executions_list_filters_and_start(page: Any, pipeline: Pipeline) -> None:
    pipeline.flaky_ok = True
    pipeline.engine.start_execution("flaky", {}, name="list-ok", wait=True)
    page.goto("/#/executions")
    table = page.locator("#executions")
    expect(table.locator('tr[data-name="list-ok"]')).to_contain_text("SUCCEEDED")
    link = table.locator('tr[data-name="list-ok"] a').first
    assert link.get_attribute("href").endswith("execution%3Aflaky%3Alist-ok")
    # Filter by workflow and by status.
    page.select_option("#filter-workflow", "flaky")
    expect(page).to_have_url(re.compile(r"stateMachine=flaky"))
    expect(table.locator("tbody tr")).not_to_have_count(0)
    for cell in table.locator("tbody tr td:nth-child(2)").all_text_contents():
        assert cell == "flaky"
    page.select_option("#filter-status", "FAILED")
    expect(page).to_have_url(re.compile(r"status=FAILED"))
    expect(table.locator('tr[data-name="list-ok"]')).to_have_count(0)
    page.select_option("#filter-status", "SUCCEEDED")
    expect(table.locator('tr[data-name="list-ok"]')).to_have_count(1)
    expect(table.locator('tr[data-name="list-ok"] td').nth(4)).to_have_text(re.compile(r"\d"))
    screenshot(page, "executions")

    # Start an execution from the form; the page goes to it.
    page.locator("details.start summary").click()
    page.select_option("#start-workflow", "flaky")
    page.fill("#start-name", "started-from-ui")
    page.fill("#start-input", json.dumps({"from": "ui"}))
    page.locator("form.start-form button[type=submit]").click()
    expect(page.locator(".execution")).to_have_attribute(
        "data-arn", re.compile(r":started-from-ui$")
    )
    wait_status(page, "Second", "succeeded")
    desc = pipeline.engine.describe_execution("started-from-ui")
    assert json.loads(desc["input"]) == {"from": "ui"}


def test_workflow_pages(page: Any, pipeline: Pipeline) -> None:
    from console_support import flaky_definition

    changed = flaky_definition()
    changed["Comment"] = "second revision"
    pipeline.engine.create_state_machine("flaky", changed)
    page.goto("/#/workflows")
    expect(page.locator("#workflows")).to_contain_text("console-pipeline")
    page.locator("#workflows a", has_text="console-pipeline").click()
    expect(page.locator(".graph-box svg g.node")).to_have_count(9)
    expect(page.locator("#definition-json")).to_contain_text('"StartAt": "Prepare"')
    expect(page.locator(".graph-box g.cluster.group")).to_have_count(2)
    screenshot(page, "workflow")
    page.goto("/#/workflows/flaky")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    expect(page.locator("#definition-json")).to_contain_text("second revision")
    page.locator('#versions tr[data-revision="1"] button').click()
    expect(page.locator("#definition-json")).not_to_contain_text("second revision")


def test_job_page_live_logs_metrics_and_record(page: Any, pipeline: Pipeline) -> None:
    from stepline.jobs import records

    name = "job-run"
    pipeline.gate(name).set()
    pipeline.engine.start_execution("console-pipeline", {}, name=name, wait=False)
    job = f"train-{name}"
    deadline = time.time() + 20
    while time.time() < deadline:
        rec = records.get("training", job)
        if rec is not None and rec.secondary_status == "Training" and rec.log_path.exists():
            if "waiting for release" in rec.log_path.read_text():
                break
        time.sleep(0.05)
    page.goto(f"/#/jobs/training/{job}")
    logs = page.locator("#job-logs")
    expect(logs).to_contain_text("console-test: waiting for release")
    expect(logs).to_contain_text("epoch=2 loss=0.3333;")
    expect(page.locator("#log-state")).to_contain_text("following")
    expect(page.locator(".page-title .badge")).to_have_text("InProgress")
    summary = page.locator("#job-summary")
    rec = records.get("training", job)
    for text in [
        pipeline.image,
        rec.state["image"]["digest"],
        "arn:aws:iam::123456789012:role/ConsoleTestRole",
        "ml.m5.large",
        '"cpus"',
        "s3://console/models",
        '"epochs": "3"',
        '"CONSOLE_TEST": "yes"',
        "python /opt/program/train.py",
    ]:
        expect(summary).to_contain_text(text)
    expect(page.locator('#job-metrics .chart[data-metric="train:loss"] canvas')).to_have_count(1)
    screenshot(page, "job-running")

    pipeline.release_job(job)
    expect(logs).to_contain_text("console-test: training done", timeout=20000)
    expect(page.locator(".page-title .badge")).to_have_text("Completed", timeout=20000)
    expect(page.locator("#log-state")).to_contain_text("complete")
    expect(summary).to_contain_text("s3://console/models/train-job-run/output/model.tar.gz")
    expect(summary.locator("tr", has_text="Duration")).to_contain_text(re.compile(r"\d"))
    page.locator("details.card summary", has_text="Full record").click()
    expect(page.locator("#job-record")).to_contain_text("SecondaryStatusTransitions")
    screenshot(page, "job-completed")
    deadline = time.time() + 20
    while pipeline.engine.describe_execution(name)["status"] == "RUNNING":
        assert time.time() < deadline
        time.sleep(0.05)

    page.goto("/#/jobs")
    expect(page.locator("#jobs")).to_contain_text(job)


def test_endpoints_and_models_pages(page: Any) -> None:
    from stepline.console import providers

    page.goto("/#/endpoints")
    expect(page.locator("#endpoints")).to_contain_text("No endpoints")
    now = time.time()
    endpoint = {
        "EndpointName": "churn",
        "EndpointStatus": "InService",
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": "churn-v1", "CurrentInstanceCount": 1}
        ],
        "Metrics": {"Invocations": [[now - 60, 3], [now, 5]]},
    }

    def provider() -> list[dict]:
        return [endpoint]

    providers.register_endpoints(provider)
    try:
        page.goto("/#/models")
        page.goto("/#/endpoints")
        card = page.locator('[data-endpoint="churn"]')
        expect(card).to_contain_text("InService")
        expect(card).to_contain_text("AllTraffic")
        expect(card.locator("canvas")).to_have_count(1)
        screenshot(page, "endpoints")
    finally:
        providers.unregister(provider)
    page.goto("/#/models")
    expect(page.locator("main")).to_contain_text("No models yet")


def test_every_page_loads_without_a_404_or_console_error(page: Any, server: str) -> None:
    """The `page` fixture fails the test on any 4xx/5xx response or console error."""
    for hash_, ready in [
        ("#/workflows", "#main table, #main .empty"),
        ("#/executions", "#executions, #main .empty"),
        ("#/jobs", "#jobs, #main .empty"),
        ("#/endpoints", "#endpoints"),
        ("#/models", "#models, #main .empty"),
    ]:
        page.goto("/" + hash_)
        expect(page.locator(ready).first).to_be_visible()
        expect(page.locator("#main .error-box")).to_have_count(0)
    # Headless Chromium does not fetch icons itself, so the page fetches what it links to,
    # and what browsers ask for when a page links none.
    icon = page.evaluate(
        """async () => {
          const href = document.querySelector('link[rel="icon"]').href;
          const res = await fetch(href);
          return [href, res.status, res.headers.get("content-type"), (await res.text())];
        }"""
    )
    assert icon[0] == server + "/favicon.ico"
    assert icon[1] == 200 and icon[2].startswith("image/svg+xml") and icon[3].startswith("<svg")
    assert page.request.get("/favicon.ico").status == 200
    assert page.evaluate("document.cookie") == ""  # the token cookie is HttpOnly


def test_without_the_token_the_page_says_how_to_get_in(browser: Any, server: str) -> None:
    context = browser.new_context(base_url=server)
    try:
        pg = context.new_page()
        pg.goto("/?token=wrong")
        assert pg.url == server + "/"  # even a wrong token leaves the address bar
        expect(pg.locator("#main .error-box")).to_contain_text("stepline ui")
        assert context.cookies() == []
    finally:
        context.close()


def test_another_site_cannot_drive_the_console(
    browser: Any, server: str, console_token: str, pipeline: Pipeline
) -> None:
    """CSRF in a real browser: a page on another port of 127.0.0.1 (same site, so even the
    SameSite=Strict cookie is sent) posts a form and fetches to stop an execution."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    name = "csrf-target"
    pipeline.engine.start_execution("console-pipeline", {}, name=name, wait=False)
    assert pipeline.reached(name).wait(10)
    stop = f"{server}/api/executions/{name}/stop"
    hostile = f"""<!doctype html><html><body>
<form id="f" method="POST" action="{stop}" enctype="text/plain">
<input name='{{"error":"' value='x"}}'></form>
<script>
const opts = {{method: "POST", credentials: "include", body: "{{}}"}};
Promise.allSettled([
  fetch("{stop}", {{...opts, mode: "no-cors", headers: {{"content-type": "text/plain"}}}}),
  fetch("{stop}", {{...opts, headers: {{"content-type": "application/json"}}}}),
]).then(() => document.getElementById("f").submit());
</script></body></html>""".encode()

    class Attacker(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(hostile)))
            self.end_headers()
            self.wfile.write(hostile)

        def log_message(self, *args: Any) -> None:
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    context = browser.new_context(base_url=server)
    try:
        victim = context.new_page()
        victim.goto(f"/?token={console_token}")  # the user is logged in to the console
        assert any(c["httpOnly"] and c["sameSite"] == "Strict" for c in context.cookies())
        with victim.expect_navigation(url=stop):
            victim.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        assert "ForbiddenOrigin" in victim.content()
        assert pipeline.engine.describe_execution(name)["status"] == "RUNNING"
    finally:
        context.close()
        evil.shutdown()
        evil.server_close()
        pipeline.engine.stop_execution(name, "Cleanup", None)
        pipeline.gate(name).set()
