"""The Ray driver's pool of warm instance actors, without a cluster: who gets a freed actor,
what is killed to make room, which pending actors are cancelled, and its setting.  (With a
cluster: ``tests/ray/test_ray_pool.py``.)"""

from __future__ import annotations

import pytest

from stepline import config
from stepline.jobs.runtimes import ray as ray_runtime


@pytest.fixture
def killed(monkeypatch: pytest.MonkeyPatch) -> list:
    """What the pool kills (recorded instead of asking Ray), with its background threads
    (idle expiry, placement watching) left out: each test drives the pool itself."""
    out: list = []
    monkeypatch.setattr(ray_runtime, "_kill", out.extend)
    monkeypatch.setattr(ray_runtime.ActorPool, "_expire", lambda self: None)
    monkeypatch.setattr(ray_runtime.ActorPool, "_place", lambda self: None)
    return out


def test_a_freed_actor_goes_to_the_longest_waiting_job_of_its_shape(killed: list) -> None:
    pool = ray_runtime.ActorPool(idle=60)
    first, second = pool.wait("K"), pool.wait("K")
    assert not first.event.is_set() and not second.event.is_set()
    pool.give("K", "a1", "n1")
    assert first.event.is_set() and pool.done(first) == ("a1", "n1")
    assert not second.event.is_set()
    pool.give("K", "a2", "n2")
    assert pool.done(second) == ("a2", "n2")
    # Nobody waits: the next one is kept warm and handed at once.
    pool.give("K", "a3", "n3")
    third = pool.wait("K")
    assert third.event.is_set() and pool.done(third) == ("a3", "n3")
    assert killed == []


def test_warm_actors_make_room_for_other_shapes_and_placement_groups(killed: list) -> None:
    pool = ray_runtime.ActorPool(idle=60)
    pool.give("K", "a1", "n1")
    other = pool.wait("L")  # holds no room of its own: the warm K actor goes
    assert killed == ["a1"] and not other.event.is_set()
    pool.give("K", "a2", "n2")  # L waits longest: a K actor freed meanwhile goes too
    assert killed == ["a1", "a2"]
    assert pool.done(other) is None
    pool.give("K", "a3", "n3")
    group = pool.wait(None)  # a multi-instance job's placement group
    assert killed == ["a1", "a2", "a3"]
    pool.give("K", "a4", "n4")
    assert killed[-1] == "a4"
    pool.done(group)
    pool.give("K", "a5", "n5")  # no one waits: kept
    assert killed[-1] == "a4"


def test_pending_actors_beyond_the_waiting_jobs_are_cancelled_newest_first(killed: list) -> None:
    pool = ray_runtime.ActorPool(idle=60)
    first, second = pool.wait("K"), pool.wait("K")
    pool.add_pending("K", "p1", "np1", object())
    pool.add_pending("K", "p2", "np2", object())
    pool.give("K", "warm", "nw")  # a warm actor serves the first job before any placement
    assert pool.done(first) == ("warm", "nw")
    assert killed == ["p2"]  # one job waits, one pending actor stays: the oldest
    assert [p[1] for p in pool.pending] == ["p1"]
    pool._fail("K", RuntimeError("its node died"))  # what the placement watcher reports
    assert second.event.is_set() and isinstance(second.error, RuntimeError)
    pool.done(second)
    assert killed == ["p2", "p1"]


def test_the_idle_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ray_runtime.ACTOR_IDLE_ENV, raising=False)
    assert ray_runtime.actor_idle() == ray_runtime.DEFAULT_ACTOR_IDLE
    monkeypatch.setenv(ray_runtime.ACTOR_IDLE_ENV, "0")
    assert ray_runtime.actor_idle() == 0.0
    for bad in ("soon", "-1"):
        monkeypatch.setenv(ray_runtime.ACTOR_IDLE_ENV, bad)
        with pytest.raises(config.ConfigError, match=ray_runtime.ACTOR_IDLE_ENV):
            ray_runtime.actor_idle()
