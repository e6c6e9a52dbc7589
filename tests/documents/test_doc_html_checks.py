"""The HTML scanner that keeps documents self-contained and accessible (no PDF engine needed)."""

from __future__ import annotations

import pytest

from xai_reports.render.safety import accessibility_problems, css_urls, external_resources

PAGE = '<!DOCTYPE html><html lang="en"><head><title>T</title>{head}</head><body>{body}</body></html>'


@pytest.mark.parametrize("head, body, expected", [
    ("", '<img src="file:///etc/hostname" alt="x">', "file:///etc/hostname"),
    ("", '<img srcset="data:image/png;base64,AA 1x, https://e.test/2x.png 2x" alt="x">', "https://e.test/2x.png"),
    ('<link rel="stylesheet" href="http://127.0.0.1:8000/s.css">', "", "http://127.0.0.1:8000/s.css"),
    ('<link rel="attachment" href="data:text/plain,hi">', "", "<link rel=attachment>"),
    ('<link rel="icon" href="/favicon.ico">', "", "/favicon.ico"),
    ("<style>@import 'evil.css';</style>", "", "evil.css"),
    ("<style>p { background: url(  \"file:///x\"  ) }</style>", "", "file:///x"),
    ("<style>p { background: u\\72l(file:///escaped) }</style>", "", "file:///escaped"),
    ("", '<p style="background-image:url(//cdn.test/x.png)">x</p>', "//cdn.test/x.png"),
    ("", '<svg aria-label="c"><image href="https://e.test/i.png"/></svg>', "https://e.test/i.png"),
    ("", '<svg aria-label="c"><use xlink:href="other.svg#a"/></svg>', "other.svg#a"),
    ("", '<script src="app.js"></script>', "app.js"),
    ("", '<iframe src="about:blank"></iframe>', "about:blank"),
    ("", '<object data="x.pdf"></object>', "x.pdf"),
    ('<meta http-equiv="refresh" content="0; url=http://e.test">', "", "refresh"),
    ('<base href="http://e.test/">', "", "http://e.test/"),
])
def test_external_loads_are_found(head, body, expected):
    found = external_resources(PAGE.format(head=head, body=body))
    assert any(expected in f for f in found), found


def test_inline_and_navigation_are_fine():
    html = PAGE.format(head="<style>p { background: url(data:image/png;base64,AA) }</style>",
                       body='<a href="https://www.consumerfinance.gov/">CFPB</a><a href="#top">top</a>'
                            '<img src="data:image/png;base64,AA" alt="">')
    assert external_resources(html) == []
    assert accessibility_problems(html) == []


def test_css_urls():
    assert css_urls("a{b:url(x.png)} /* url(hidden.png) */ @import \"y.css\";") == ["x.png", "y.css"]


def test_accessibility_problems():
    html = ('<html><head><title> </title></head><body><img src="data:,"><img src="data:," alt="">'
            '<svg width="1"></svg><svg aria-hidden="true"></svg><svg><title>Chart of reasons</title></svg></body></html>')
    probs = accessibility_problems(html)
    assert probs == ["<html> has no lang attribute", "the document has no <title> (or an empty one)",
                     "<img> without alt text (src data:,)", "1 inline <svg> chart(s) without aria-label or <title>"]
