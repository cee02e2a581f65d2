"""``faultproxy chat`` and ``faultproxy compare`` as a person sees them: run in tmux, read off the screen.

Each test starts the command in a detached tmux session (a real terminal, so rich draws its live
view) and polls ``capture-pane`` until what it waits for is on the screen, within a bounded
time; nothing is asserted about how fast it got there. The built-in mocks are paced (tokens/s),
so the live states -- streaming, stalled -- are on screen long enough to be seen.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
FAULTPROXY = str(Path(sys.executable).with_name("faultproxy"))
WAIT_S = 30.0  # the most any screen state may take to appear (a loaded CI machine)


class Screen:
    def __init__(self, command: str, width: int = 180, height: int = 50):
        self.name = f"fp-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.name]  # a tmux server of its own: no other session can interfere
        subprocess.run(
            [
                *self.tmux,
                "new-session",
                "-d",
                "-s",
                self.name,
                "-x",
                str(width),
                "-y",
                str(height),
                f"{command}; echo EXIT=$?; sleep 60",
            ],
            check=True,
        )

    def text(self) -> str:
        out = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return out.stdout

    def wait_for(self, *needles: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            screen = self.text()
            if all(n in screen for n in needles):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"not on screen within {WAIT_S}s: {needles}\n{self.text()}")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def screen() -> Iterator[type[Screen]]:
    opened: list[Screen] = []

    def open_(command: str, **size) -> Screen:
        s = Screen(command, **size)
        opened.append(s)
        return s

    yield open_  # type: ignore[misc]
    for s in opened:
        s.close()


def test_chat_shows_tokens_metrics_and_a_complete_ending(screen):
    s = screen(f"{FAULTPROXY} chat --api anthropic --tokens 24 --tokens-per-s 15 'hello'")
    live = s.wait_for("streaming…", "tok/s")
    assert "TTFT" in live
    done = s.wait_for("✔ complete", "message_stop seen", "EXIT=0")
    assert "tokens 24" in done and "finish: end_turn" in done and "B/token" in done


def test_chat_under_a_stall_shows_the_stall_then_the_rest(screen):
    fault = "llm_stall:after_deltas=4,duration_ms=4000,ping_ms=500"
    s = screen(f"{FAULTPROXY} chat --tokens 12 --tokens-per-s 20 --wire --fault {fault} 'hello'")
    stalled = s.wait_for("STALLED")
    assert "tokens 4" in stalled and "keep-alive" not in stalled.split("wire")[0]  # tokens panel unaffected
    assert "chunk" in stalled  # the wire panel: chunk sizes
    done = s.wait_for("✔ complete", "data: [DONE] seen", "EXIT=0")
    assert "tokens 12" in done


def test_chat_under_a_cut_says_truncated_and_which_sentinel_is_missing(screen):
    s = screen(
        f"{FAULTPROXY} chat --api anthropic --tokens 20 --tokens-per-s 30 --fault sse_disconnect:after_events=8 'x'"
    )
    done = s.wait_for("✘ truncated", "EXIT=1")
    assert "before message_stop" in done and "tokens 5" in done


def test_chat_shows_an_in_stream_error_event(screen):
    s = screen(
        f"{FAULTPROXY} chat --api anthropic --tokens 20 --tokens-per-s 30 --fault llm_error_event:after_deltas=3 'x'"
    )
    done = s.wait_for("✘ error", "EXIT=1")
    assert "overloaded_error" in done and "after 3 tokens" in done


def test_chat_says_why_an_untrusted_https_server_fails(screen, tls_server):
    s = screen(f"{FAULTPROXY} chat --api anthropic --base-url https://localhost:{tls_server} 'x'")
    done = s.wait_for("✘ error", "EXIT=1")
    assert "TLS with localhost" in done and "CERTIFICATE_VERIFY_FAILED" in done


def test_compare_puts_both_formats_side_by_side(screen):
    s = screen(f"{FAULTPROXY} compare --tokens 16 --tokens-per-s 25 'hello'", width=200, height=60)
    done = s.wait_for("message_stop (seen)", "data: [DONE] (seen)")
    for needle in ("content_block_delta ×16", "chunk ×", "B/token", "event types", "error shape", "usage"):
        assert needle in done, needle


def test_compare_under_a_fault_shows_both_error_events_and_exits_1(screen):
    fault = "llm_error_event:after_deltas=3"
    s = screen(
        f"{FAULTPROXY} compare --tokens 16 --tokens-per-s 25 --fault {fault} 'hello'", width=200, height=60
    )
    done = s.wait_for("EXIT=1")
    assert "overloaded_error" in done and "server_error" in done  # each format's own error, observed
    assert done.count("✘ error") >= 2, done


@pytest.fixture
def tls_server() -> Iterator[int]:
    """A TLS server whose certificate no one trusts (a fresh CA): its port."""
    import trustme
    from test_chat import CannedTLSServer

    with CannedTLSServer(b"", trustme.CA()) as server:
        yield server.port
