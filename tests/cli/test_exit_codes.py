"""One exit status convention for every command: 0 all good, 1 an expectation unmet, 2 bad input
(a file, a flag, an unknown client, a port in use) -- with a one-line message, never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from faultproxy.cli import main

GOOD = "name: good\nserver: {kind: sse, events: 2}\nclients: [raw]\n"
BAD = "name: bad\nserver: {kind: sse}\nclients: [nope]\n"


@pytest.fixture(scope="module")
def busy() -> Iterator[int]:
    """A loopback port something is listening on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        yield taken.getsockname()[1]


def files(folder: Path) -> dict[str, str]:
    (folder / "good.yaml").write_text(GOOD)
    (folder / "bad.yaml").write_text(BAD)
    (folder / "bad.toml").write_text("[[clients]]\nname = 'x'\n")
    (folder / "notes.txt").write_text("not a capture\n")
    (folder / "garbage.http").write_bytes(b"HTTP/1.1 2OO OK\r\n\r\n")
    (folder / "empty").mkdir()
    return {
        name.replace(".", "_"): str(folder / name)
        for name in ("good.yaml", "bad.yaml", "bad.toml", "notes.txt", "garbage.http", "empty")
    }


BAD_INPUT = {
    "run: a bad scenario file": ["run", "{bad_yaml}"],
    "run: an unknown client": ["run", "{good_yaml}", "--clients", "nope"],
    "run: no scenario selected": ["run", "{good_yaml}", "-k", "zzz"],
    "run: a bad shard": ["run", "{good_yaml}", "--shard", "5/4"],
    "run: a bad --client-cmd": ["run", "{good_yaml}", "--client-cmd", "x=go {{uri}}"],
    "run: a bad config file": ["run", "{good_yaml}", "--config", "{bad_toml}"],
    "run: an unknown flag": ["run", "--colour"],
    "scenarios check: a bad file": ["scenarios", "check", "{bad_yaml}"],
    "report merge: no report there": ["report", "merge", "{empty}"],
    "proxy: a busy port": ["proxy", "--listen", "127.0.0.1:{busy}", "--upstream", "http://127.0.0.1:9"],
    "proxy: a bad fault": ["proxy", "--upstream", "http://127.0.0.1:9", "--fault", "sse_drop:evnt_index=1"],
    "serve: a busy port": ["serve", "sse", "--listen", "127.0.0.1:{busy}"],
    "server: a busy port": ["server", "--port", "{busy}"],
    "capture show: not a capture": ["capture", "show", "{notes_txt}"],
    "decode: not HTTP": ["decode", "--http", "{garbage_http}"],
    "faults: an unknown flag": ["faults", "--colour"],
    "clients: a bad config file": ["clients"],
    "bench: an unknown phase": ["bench", "--only", "nope"],
    "conformance: an unknown client": ["conformance", "--clients", "nope"],
    "explore: an unknown client": ["explore", "--client", "nope", "--property", "no_silent_loss"],
    "record: a busy port": [
        "record",
        "--upstream",
        "http://127.0.0.1:9",
        "--out",
        "{empty}",
        "--listen",
        "127.0.0.1:{busy}",
    ],
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_exit_status_2_with_a_message(
    case: str, tmp_path: Path, busy: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = files(tmp_path)
    args = [a.format(busy=busy, **paths) for a in BAD_INPUT[case]]
    if case.startswith("clients"):
        (tmp_path / "faultproxy.toml").write_text("[[clients]]\nname = 'x'\n")
        monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, (case, result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.output.strip(), "a message says what is wrong"
