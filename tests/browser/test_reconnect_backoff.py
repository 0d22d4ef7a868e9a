"""The recording socket's reconnect back-off, in real Chromium against a scripted socket: a server that
accepts and at once closes is retried ever more slowly, and an acknowledged chunk starts it afresh."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser
ORIGIN = "http://invigil.test"
RECORDER = Path(__file__).resolve().parents[2] / "static" / "invigil" / "recorder.js"
ACK = '{"type": "ack", "stream": "webcam", "part": 0, "seq": 0, "outcome": "duplicate"}'


def test_a_socket_that_closes_at_once_does_not_reset_the_back_off_but_an_ack_does(page: Any) -> None:
    healthy = False

    def server(socket: Any) -> None:
        def answer(message: Any) -> None:  # the page asks to start its stream: the socket is open
            if healthy:
                socket.send(ACK)
            socket.close(code=1011)

        socket.on_message(answer)

    html = "<!doctype html><title>exam</title>"
    page.route(f"{ORIGIN}/", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.route(f"{ORIGIN}/recorder.js", lambda route: route.fulfill(path=RECORDER, content_type="text/javascript"))
    page.route(f"{ORIGIN}/token", lambda route: route.fulfill(json={"token": "t", "url": "/stream/"}))
    page.route_web_socket("ws://invigil.test/stream/?token=t", server)
    page.goto(f"{ORIGIN}/")
    page.evaluate(
        """async () => {
            const { Uploader } = await import("/recorder.js");
            window.uploader = new Uploader({ session: "s", tokenUrl: "/token", csrfToken: "x" });
            window.uploader.parts.set("webcam:0", "video/webm");  // a stream under way: each socket starts it
            window.opened = 0;
            window.uploader.addEventListener("connected", () => { window.opened += 1; });
            await window.uploader.open();
        }"""
    )
    # Each socket opened and was closed at once: the delay doubles (0.5 s, then 1 s) instead of
    # starting again from 0.5 s each time.
    page.wait_for_function("window.opened >= 2 && window.uploader.retry >= 2", timeout=10_000)

    healthy = True
    page.wait_for_function("window.uploader.retry <= 1", timeout=15_000)
