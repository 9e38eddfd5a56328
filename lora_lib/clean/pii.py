"""PII masking with typed placeholders, built on ko-pii's Korean rule-based detectors.

First pass (walking skeleton): ko-pii's detectors (phone, e-mail, RRN, account, card, address,
...) plus a few chat-specific rules of ours. Known values (the user's nickname and id) become
`{{user}}`. Obfuscated spellings ("공일공 …", "골뱅이", "닷컴") are the next issue's work.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import ko_pii

# ko-pii label -> our placeholder. Labels not listed keep their own name: <LABEL>.
PLACEHOLDER = {"PHONE": "<PHONE>", "EMAIL": "<EMAIL>", "RRN": "<RRN>", "ACCOUNT": "<ACCOUNT>",
               "CARD": "<CARD>", "ADDRESS": "<ADDRESS>", "PERSON": "<NAME>", "NAME": "<NAME>"}
USER = "{{user}}"
# Identifiers only: ages, heights, dates, URLs and the like are ordinary chat, not PII to mask
# (spam links are the quality filter's business). ko-pii's PERSON is left out: on chat it fired on
# ordinary words ("구경거리", "성현", "단련장"), which would mangle the training text; names are
# caught by our contextual rule below and by known values.
KO_PII_LABELS = ("RRN", "FRN", "DRIVER_LICENSE", "PASSPORT", "CARD", "ACCOUNT", "PHONE", "FAX", "EMAIL",
                 "ADDRESS", "MEDICAL_INSURANCE", "BUSINESS_REG", "VEHICLE", "IP")

# Chat-specific rules ko-pii does not cover: self-introductions with a full name, long digit
# groups that look like card numbers whatever their checksum, messenger handles.
# Each rule's group "v" is the span to mask; the rest is context.
_OUR_RULES = [
    # "제 이름은 김민수예요", "저 최유진이라고 해요", "난 박서준이야, 잘 부탁해"
    ("NAME", re.compile(r"(이름은|이름이|(^|\s)(저는?|난|나는?))\s*(?P<v>[김이박최정강조윤장임한오서신권황안송류홍전고문손양배백허남심노하곽성차주우구민유나진지엄채원천방공현함변염여추도소석선설마길연위표명기반라왕금옥육인맹제모탁국어은편용][가-힣]{1,2}?)"
               r"(이라고|라고|이에요|예요|이야|야|입니다|이고|씨)")),
    ("CARD", re.compile(r"(?<!\d)(?P<v>\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4})(?!\d)")),
    ("MESSENGER", re.compile(r"(카톡|카카오톡|인스타|라인|텔레그램|디코|디스코드)\s*(아이디|아디|ID|id)?\s*[:：]?\s*(는|은)?\s*"
                             r"(?P<v>@?[A-Za-z0-9_.]{3,30})")),
    ("MESSENGER", re.compile(r"(?<![\w@])(?P<v>@[A-Za-z0-9_.]{3,30})")),
]


@dataclass
class Redaction:
    text: str
    findings: list[tuple[str, int, int]] = field(default_factory=list)  # (label, start, end) in the original

    @property
    def labels(self) -> list[str]:
        return [label for label, _, _ in self.findings]


def _known_value_pattern(value: str) -> re.Pattern | None:
    chars = [re.escape(c) for c in value if not c.isspace()]
    if len(chars) < 2:  # a one-letter nickname would mask half the chat
        return None
    return re.compile(r"\s*".join(chars), re.IGNORECASE)  # any spacing: "김 민 수"


def _spans(text: str, known_values: Sequence[str]) -> list[tuple[str, int, int]]:
    spans = []
    for value in known_values:
        pat = _known_value_pattern(value or "")
        if pat:
            spans += [("USER", m.start(), m.end()) for m in pat.finditer(text)]
    spans += [(d.label, d.start, d.end) for d in ko_pii.detect_all(text, include=KO_PII_LABELS)]
    for label, pat in _OUR_RULES:
        spans += [(label, m.start("v"), m.end("v")) for m in pat.finditer(text)]
    # Longest span wins where two overlap; known values first, so a nickname is {{user}}.
    spans.sort(key=lambda s: (s[1], -(s[2] - s[1]), s[0] != "USER"))
    out: list[tuple[str, int, int]] = []
    for span in spans:
        if out and span[1] < out[-1][2]:
            continue
        out.append(span)
    return out


def redact(text: str, known_values: Sequence[str] = ()) -> Redaction:
    """Mask PII in `text`; findings are (label, start, end) in the original text."""
    findings = _spans(text, known_values)
    parts, pos = [], 0
    for label, start, end in findings:
        parts += [text[pos:start], USER if label == "USER" else PLACEHOLDER.get(label, f"<{label}>")]
        pos = end
    parts.append(text[pos:])
    return Redaction("".join(parts), findings)


def mask_known_values(text: str, known_values: Sequence[str]) -> str:
    """Replace the user's own nickname/id (any spacing) with {{user}}; nothing else."""
    for value in known_values:
        pat = _known_value_pattern(value or "")
        if pat:
            text = pat.sub(USER, text)
    return text
