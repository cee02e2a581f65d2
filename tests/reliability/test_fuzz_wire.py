"""The wire parsers under atheris (coverage-guided, libFuzzer) for a bounded time: see fuzz_wire.py.

``FAULTPROXY_ATHERIS_SECONDS`` (10 in CI) sets the time; a person runs the script itself for hours.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SECONDS = int(os.environ.get("FAULTPROXY_ATHERIS_SECONDS", "10"))
SEEDS = {
    "request": b"\x00\x00POST /v1/x HTTP/1.1\r\nHost: u\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "response": b"\x01\x00HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"e\r\nid: 1\ndata: x\n\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "chunked": b"\x04\x02\x03\x05a\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n",
    "sse": b"\x05\x03\x01\x02\x03\xef\xbb\xbfretry: 10\r\nid: 7\r\nevent: tick\r\ndata: a\rdata: b\n\n: comment\n\n",
}


def test_the_wire_parsers_hold_under_coverage_guided_fuzzing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, seed in SEEDS.items():
        (corpus / name).write_bytes(seed)
    script = Path(__file__).with_name("fuzz_wire.py")
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            f"-max_total_time={SECONDS}",
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = int(re.search(r"Done (\d+) runs", done.stderr)[1])
    assert runs > 1000, done.stderr[-2000:]  # it really ran
    assert not list(tmp_path.glob("crash-*"))
