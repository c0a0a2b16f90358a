"""What the customer reads about their ticket, in Chinese and English: a progress update as the
agent wrote it under the ticket's number, the status changes worth telling, and the follow-up
invitation after an after-sales resolution."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "update": {
        "zh": "【工单 {ticket} 进展】{text}",
        "en": "Update on ticket {ticket}: {text}",
    },
    "resolved": {
        "zh": "您的工单 {ticket} 已处理完毕。如仍有问题，直接在这里回复我们即可。",
        "en": "Your ticket {ticket} has been resolved. "
        "If anything is still wrong, just reply here.",
    },
    "follow_up": {
        "zh": "关于工单 {ticket}：问题解决了吗？处理得够快吗？有什么建议？"
        "请花半分钟告诉我们：{link}",
        "en": "About ticket {ticket}: was it solved? Fast enough? Any suggestions? "
        "Tell us in half a minute: {link}",
    },
    "follow_up_below": {  # the widget shows the link under the text
        "zh": "关于工单 {ticket}：问题解决了吗？处理得够快吗？有什么建议？"
        "请点下面的链接花半分钟告诉我们。",
        "en": "About ticket {ticket}: was it solved? Fast enough? Any suggestions? "
        "Tell us in half a minute with the link below.",
    },
    "follow_up_caption": {
        "zh": "填写回访（解决了吗？够快吗？建议）",
        "en": "Answer the follow-up (solved? fast enough? suggestions)",
    },
}


def say(key: str, language: str | None, **values: str) -> str:
    """The text `key` in the customer's language (Chinese unless English), filled in."""
    texts = _TEXTS[key]
    return texts.get(language or "zh", texts["zh"]).format(**values)
