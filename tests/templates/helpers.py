from __future__ import annotations

import re
from html.parser import HTMLParser


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (href, link text)
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text.strip()))
            self._href = None


def html_links(html: str) -> list[tuple[str, str]]:
    """(href, text) of every link, hrefs unescaped as a mail client would."""
    parser = _Links()
    parser.feed(html)
    return parser.links


def score_links(links: list[str], base: str) -> list[int]:
    pattern = re.compile(re.escape(base) + r"\?score=(\d+)$")
    return [int(m.group(1)) for link in links if (m := pattern.match(link))]
