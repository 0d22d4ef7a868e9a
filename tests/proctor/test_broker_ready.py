"""A server sets up its broker client as it starts (proctor.asgi), not mid-exam; nothing connects yet."""

from __future__ import annotations

import socket

import pytest

from proctor.celery import app, broker_ready


def test_the_producer_pool_is_made_without_reaching_the_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on: any connection attempt would fail
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    monkeypatch.setattr(app, "_pool", None)

    broker_ready()

    pool = app.amqp.__dict__.get("_producer_pool")
    assert pool is not None
    assert pool.connections.connection.transport_cls == "redis"


def test_a_broker_client_that_cannot_be_set_up_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: object) -> None:
        raise ImportError("no transport")

    monkeypatch.setattr(type(app), "producer_pool", property(broken))
    broker_ready()
    assert "Could not prepare the broker's producer pool." in caplog.text
