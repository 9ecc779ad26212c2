"""The catalogue the tests hold the defaults to, written out by hand on purpose:
deriving it from the package would let a missing file go unnoticed."""

from __future__ import annotations

from templates import TemplateKey

KINDS = ("nps", "csat", "ces")
LANGUAGES = ("en", "de")
THANK_YOUS = {
    "nps": ("thank_you_promoter", "thank_you_passive", "thank_you_detractor"),
    "csat": ("thank_you_satisfied", "thank_you_unsatisfied"),
    "ces": ("thank_you_easy", "thank_you_neutral", "thank_you_hard"),
}
SURVEY_STEPS = ("pre_notice", "invite", "reminder", "thank_you_unanswered", "you_said_we_did")
SMS_CONVERSATION = (
    "follow_up_question",
    "clarify",
    "thanks_comment",
    "help",
    "opted_out",
    "opted_in",
)
INTERNAL = ("kickoff", "summary", "detractor_alert")


def expected_keys() -> list[TemplateKey]:
    keys = []
    for kind in KINDS:
        survey = SURVEY_STEPS + THANK_YOUS[kind]
        steps = {
            "email": survey + INTERNAL,
            "sms": survey + SMS_CONVERSATION,
            "in_app": survey,
            "slack": INTERNAL,
        }
        for channel, channel_steps in steps.items():
            for step in channel_steps:
                for lang in LANGUAGES:
                    keys.append(TemplateKey(channel, kind, step, lang))
    return sorted(keys)


def key_id(key: TemplateKey) -> str:
    return f"{key.channel}-{key.kind}-{key.step}-{key.locale}"
