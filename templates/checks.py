"""The template studio's checks: every finding with its part, line and a sentence.

``check_edit`` runs before a draft is published and as the marketer types.
Errors stop a publish; warnings and notes are shown. SMS segment counting is
the channel layer's business (``channels.sms_encoding``): callers pass it in
as an ``SmsCounter``, so the carriers' rules are written once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from typing import Any, Literal, Protocol

from jinja2 import TemplateError, TemplateSyntaxError, meta, nodes

from templates.context import as_mapping, context_names
from templates.environment import compile_source, sandbox
from templates.keys import CHANNEL_PARTS, INTERNAL_STEPS, TemplateKey, resolve_language
from templates.limits import render_limited
from templates.recipient import Placeholder
from templates.samples import sample_context
from templates.sources import logical_name
from templates.validate import declared_names

Severity = Literal["error", "warning", "note"]

SUBJECT_MAX = 78  # RFC 5322's line length; Gmail and Outlook cut subjects well before it on phones
SMS_SEGMENTS_WARN = 2
SURVEY_EMAIL_STEPS = ("invite", "reminder")  # the ones that carry the score scale
FIRST_SMS_STEPS = ("pre_notice", "invite")  # a contact's first text from a campaign is one of these
OPT_OUT_WORDS = re.compile(r"\b(STOP|STOPP|ARRET|ARRÊT|BAJA|PARAR|SAIR)\b")


@dataclass(frozen=True)
class Finding:
    part: str
    line: int | None  # in the part's source; None when it is about the whole part
    code: str  # machine-readable: syntax, unknown_variable, missing_unsubscribe, …
    message: str
    severity: Severity = "error"
    column: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class SmsCounter(Protocol):
    def segments(self, text: str) -> tuple[str, int, int]:
        """(encoding, segments, units) for ``text`` as it will be sent."""

    def normalize(self, text: str) -> str:
        """``text`` as the channel sends it (look-alikes replaced when that makes it GSM-7)."""

    def is_gsm(self, character: str) -> bool: ...


def check_edit(
    sources: Mapping[str, str], *, key: TemplateKey, sms: SmsCounter | None = None,
    render: Callable[[str, str, Mapping[str, Any]], str] | None = None, values: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """Everything the studio says about ``sources`` (every part of ``key``: edits over defaults).

    Never raises for a bad template. ``render(part, source, context)`` renders
    one part (defaults to the sandbox with its limits). ``values`` is the sample data the
    trial render fills in (default: the key's sample context); the studio passes what its
    preview shows, so the SMS length and subject length it reports are the preview's.
    """
    render = render or _render_part(key)
    findings: list[Finding] = []
    trees: dict[str, nodes.Template] = {}
    allowed = context_names(key.step) | set(sandbox().globals)
    for part, source in sources.items():
        if part not in CHANNEL_PARTS[key.channel]:
            findings.append(Finding(part, None, "unknown_part", f"{key.channel} templates have no {part} part (they have {', '.join(CHANNEL_PARTS[key.channel])})"))
            continue
        try:
            trees[part] = sandbox().parse(source)
        except TemplateSyntaxError as exc:
            findings.append(Finding(part, exc.lineno, "syntax", f"Jinja syntax: {exc.message}"))
            continue
        findings += _unknown_names(part, trees[part], allowed, key)
    if any(f.severity == "error" for f in findings):
        return findings
    placeholders = {**as_mapping(sample_context(key)), "lang": resolve_language(key.locale)}
    values = {**as_mapping(sample_context(key, placeholders=False) if values is None else values), "lang": resolve_language(key.locale)}
    rendered: dict[str, str] = {}
    with_values: dict[str, str] = {}
    for part, source in sources.items():
        try:
            rendered[part] = render(part, source, placeholders)
            with_values[part] = render(part, source, values)
        except Exception as exc:  # noqa: BLE001 - any failure is the editor's message, not a 500
            findings.append(Finding(part, _error_line(exc, key, part), "render_error", _describe(exc)))
    if any(f.severity == "error" for f in findings):
        return findings
    if key.channel == "email":
        findings += _email_checks(key, sources, rendered, with_values)
    if key.channel == "sms":
        findings += _sms_checks(key, sources.get("txt", ""), with_values.get("txt", ""), sms)
    return findings


def _render_part(key: TemplateKey) -> Callable[[str, str, Mapping[str, Any]], str]:
    def render(part: str, source: str, context: Mapping[str, Any]) -> str:
        return render_limited(compile_source(logical_name(key, part), source), context)

    return render


def _unknown_names(part: str, tree: nodes.Template, allowed: set[str] | frozenset[str], key: TemplateKey) -> list[Finding]:
    undeclared = meta.find_undeclared_variables(tree) - declared_names(tree)
    findings = []
    for name in sorted(undeclared - allowed):
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), None)
        findings.append(Finding(part, line, "unknown_variable", f"'{name}' is not available in the {key.step} template; see the variables list for what is"))
    return findings


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TemplateError):
        return exc.message or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def _error_line(exc: BaseException, key: TemplateKey, part: str) -> int | None:
    """The line of the edited part where rendering failed (Jinja's rewritten traceback)."""
    name = logical_name(key, part)
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in (name, "<template>"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _email_checks(key: TemplateKey, sources: Mapping[str, str], rendered: Mapping[str, str], with_values: Mapping[str, str]) -> list[Finding]:
    findings: list[Finding] = []
    answer = Placeholder("answer_url")
    unsubscribe = Placeholder("unsubscribe_url")
    html, text = rendered.get("html", ""), rendered.get("txt", "")
    if key.step in SURVEY_EMAIL_STEPS:
        points = len(as_mapping(sample_context(key))["scale"].points)
        if html.count(answer.html_token) < points:
            findings.append(Finding("html", None, "missing_scale", f"a survey email shows the whole scale as links, one per score ({points} links to recipient.answer_url); include \"email/_scale.html\""))
        if answer.text_token not in text:
            findings.append(Finding("txt", None, "missing_answer_link", "the text part needs the answer link: {{ recipient.answer_url }}"))
    if key.step not in INTERNAL_STEPS:
        for part, token in (("html", unsubscribe.html_token), ("txt", unsubscribe.text_token)):
            if token not in rendered.get(part, ""):
                findings.append(Finding(part, None, "missing_unsubscribe", "bulk email must carry an unsubscribe link (CAN-SPAM, RFC 8058): {{ recipient.unsubscribe_url }} — the shipped footer has it"))
    subject = " ".join(with_values.get("subject", "").split())
    if len(subject) > SUBJECT_MAX:
        findings.append(Finding("subject", 1, "subject_too_long", f"the subject is {len(subject)} characters with sample data; most clients cut it after about {SUBJECT_MAX} (phones after 40)", "warning"))
    if "html" in sources:
        findings += _html_checks(sources["html"])
    return findings


def _sms_checks(key: TemplateKey, source: str, text: str, sms: SmsCounter | None) -> list[Finding]:
    findings: list[Finding] = []
    if key.step in FIRST_SMS_STEPS and not OPT_OUT_WORDS.search(text):
        findings.append(Finding("txt", None, "missing_opt_out", "the first text of a campaign must say how to opt out (e.g. \"Reply STOP to opt out\"); carriers require it"))
    if sms is None:
        return findings
    encoding, segments, units = sms.segments(sms.normalize(text))
    findings.append(Finding("txt", None, "sms_segments", f"{segments} segment{'s' if segments != 1 else ''} ({encoding}, {units} units with sample data)", "note"))
    if segments > SMS_SEGMENTS_WARN:
        findings.append(Finding("txt", None, "sms_too_long", f"{segments} segments: each is billed as one SMS; keep it to {SMS_SEGMENTS_WARN}", "warning"))
    if encoding == "UCS-2":
        for line_no, line in enumerate(source.split("\n"), start=1):
            for column, character in enumerate(line, start=1):
                if not sms.is_gsm(sms.normalize(character) or " "):
                    findings.append(Finding("txt", line_no, "ucs2_character", f"'{character}' (U+{ord(character):04X}) is not in GSM-7: the whole text goes as UCS-2, 70 characters a segment instead of 160", "warning", column))
    return findings


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
VOID = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"])


class _TagBalance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, int]] = []
        self.problems: list[tuple[int, str]] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in VOID:
            self.open.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        line = self.getpos()[0]
        if tag in VOID:
            return
        if not any(t == tag for t, _ in self.open):
            self.problems.append((line, f"</{tag}> closes nothing that is open"))
            return
        while self.open:
            name, opened = self.open.pop()
            if name == tag:
                return
            self.problems.append((opened, f"<{name}> is not closed before </{tag}> on line {line}"))


def _html_checks(source: str) -> list[Finding]:
    """Tags that do not balance, in the source with Jinja blanked out (lines kept)."""
    blanked = _JINJA.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), source)
    parser = _TagBalance()
    parser.feed(blanked)
    parser.close()
    problems = parser.problems + [(line, f"<{tag}> is never closed") for tag, line in parser.open]
    return [Finding("html", line, "html_not_well_formed", f"HTML: {message}") for line, message in problems]

