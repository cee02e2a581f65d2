"""index.html without a browser: escaping, the embedded JSON, the timeline marks."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from report_sample import HOSTILE_DATA, HOSTILE_ID, HOSTILE_TYPE

from faultproxy.report import render_html, validate_report
from faultproxy.report.html import embed_json
from faultproxy.report.timeline import timeline_svg


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in = dict(attrs).get("id") or "code"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.data[self._in] = self.data.get(self._in, "") + data


def test_no_markup_from_the_report_becomes_markup(written: dict[str, Path]) -> None:
    page = written["html"].read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert tags.count("script") == 2  # the embedded JSON and the page's own script
    assert "img" not in tags and "svg" in tags
    assert not [
        a for _, attrs in parser.tags for a in attrs if a.startswith("on")
    ]  # no event handler attributes
    assert HOSTILE_DATA not in page and HOSTILE_ID not in page and HOSTILE_TYPE not in page
    assert "&lt;/script&gt;&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in page  # shown, as text


def test_the_embedded_report_is_the_report(written: dict[str, Path], sample: dict[str, Any]) -> None:
    parser = _Tags()
    parser.feed(written["html"].read_text(encoding="utf-8"))
    assert json.loads(parser.data["report-data"]) == sample


def test_embedded_json_cannot_end_its_script_element() -> None:
    text = embed_json({"a": "</script><!-- <script> & \u2028"})
    assert not re.search(r"[<>&\u2028]", text)
    assert json.loads(text) == {"a": "</script><!-- <script> & \u2028"}


def test_the_page_has_a_csp_allowing_only_its_own_script(written: dict[str, Path]) -> None:
    page = written["html"].read_text(encoding="utf-8")
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert found
    csp = html.unescape(found.group(1))
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from the network


def test_timeline_marks_match_the_timeline(sample: dict[str, Any]) -> None:
    result = next(
        r for r in sample["results"] if (r["scenario"], r["client"]) == ("clean-end-after-8", "httpx-sse")
    )
    svg = timeline_svg(result)
    assert svg.count('class="tl-recv') == len(result["timeline"]["received"]) == 8
    assert svg.count('class="tl-sent') == len(result["timeline"]["sent"]) == 12
    assert svg.count('class="tl-missing"') == 4 and svg.count('class="tl-sent tl-lost"') == 4
    assert svg.count('class="tl-fault"') == 1 and svg.count('class="tl-end"') == 1
    assert svg.count('class="tl-attempt"') == 1


def test_a_result_without_timeline_or_capture_still_renders(sample: dict[str, Any]) -> None:
    for r in sample["results"]:
        r.pop("timeline", None)
        r["capture_excerpt"] = None
        r["transcript"] = None
    page = render_html(validate_report(sample), embed=False)
    assert "No timeline was recorded" in page and 'id="report-data"' not in page


def test_missing_events_without_a_send_time_are_named_on_the_timeline(sample: dict[str, Any]) -> None:
    result = next(
        r for r in sample["results"] if (r["scenario"], r["client"]) == ("replay-on-resume", "sseclient-py")
    )
    sent = {row[1] for row in result["timeline"]["sent"]}
    unsent = [i for i in result["evidence"]["missing"] if i not in sent]
    assert unsent  # the server stopped when the connection closed
    svg = timeline_svg(result)
    assert f"✕ {len(unsent)} more never received (no send time): 7, 8, 9, 10, …" in svg


def test_transcripts_are_rendered_from_the_embedded_json_or_into_the_page(sample: dict[str, Any]) -> None:
    data = validate_report(sample)
    lazy, eager = render_html(data), render_html(data, embed=False)
    assert lazy.count('<details class="transcript" data-result=') == len(sample["results"])
    assert "events the application saw" not in lazy.split("<script", 1)[0]
    assert eager.split("<script", 1)[0].count("events the application saw") == len(sample["results"])
    assert len(lazy) < len(eager) + len(embed_json(data))


def test_the_headline_and_each_failing_panel_say_why(sample: dict[str, Any]) -> None:
    from faultproxy.report.model import build_matrix, why_failed

    page = render_html(validate_report(sample))
    header = page.split("</header>", 1)[0]
    flaky = {(c.scenario, c.client) for c in build_matrix(sample).ran_cells() if c.flaky}
    failing = [r for r in sample["results"] if not r["passed"] and (r["scenario"], r["client"]) not in flaky]
    assert header.count("<li><a href=") == min(len(failing), 10)  # a flaky cell is neither pass nor fail
    first = failing[0]
    assert html.escape(f"{first['scenario']} × {first['client']}") in header
    assert html.escape(why_failed(first)[0][:60]) in header
    unpassed = [r for r in sample["results"] if not r["passed"]]  # every run that did not pass says why
    assert page.count('<div class="why"><b>Failed because</b>') == len(unpassed)
    assert '<div class="why">' not in render_html(
        validate_report({**sample, "results": [r for r in sample["results"] if r["passed"]]})
    )
