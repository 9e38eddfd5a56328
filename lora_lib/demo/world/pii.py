"""PII of every kind, written plainly and the ways people dodge filters (planted in user turns)."""

from __future__ import annotations

import random
from typing import NamedTuple

_DIGIT_WORDS = "공일이삼사오육칠팔구"


def _number_words(digits: str) -> str:
    """ "0106" -> "공일공육": how people type numbers to slip past digit-based filters."""
    return "".join(_DIGIT_WORDS[int(d)] for d in digits)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _has_batchim(word: str) -> bool:
    code = ord(word[-1]) - 0xAC00
    return 0 <= code < 11172 and code % 28 != 0


def _luhn_card(rng: random.Random) -> str:
    """A 16-digit number that passes the Luhn check, like a real card number would."""
    body = rng.choice("45") + _digits(rng, 14)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


class _Pii(NamedTuple):
    kind: str
    variant: str
    span: str  # the exact substring a PII filter must mask
    text: str  # the whole turn


def _pii_cases(rng: random.Random) -> list[_Pii]:
    """PII of every kind, written plainly and the ways people dodge filters (user turns)."""
    cases: list[_Pii] = []
    phone_forms = {
        "dashed": "010-{a}-{b}",
        "plain": "010{a}{b}",
        "korean_words": "{ka} {kb}",
        "spaces": "010 {a} {b}",
        "dots": "010.{a}.{b}",
        "intl": "+82 10-{a}-{b}",
    }
    phone_carriers = (
        "내 번호 {x} 저장해 둬",
        "연락처는 {x} 입니다",
        "{x} 로 문자 줘!",
        "제 폰 번호 {x} 이에요",
    )
    for variant, form in phone_forms.items():
        a, b = _digits(rng, 4), _digits(rng, 4)
        span = form.format(a=a, b=b, ka="공일공 " + _number_words(a), kb=_number_words(b))
        cases.append(_Pii("PHONE", variant, span, rng.choice(phone_carriers).format(x=span)))

    local = rng.choice(("minsu92", "jieun.lee", "happy_day", "sky0307"))
    email_forms = {
        "plain": f"{local}@naver.com",
        "korean_words": f"{local} 골뱅이 naver 닷컴",
        "english_words": f"{local} at gmail dot com",
        "paren_at": f"{local}(at)daum.net",
    }
    for variant, span in email_forms.items():
        cases.append(_Pii("EMAIL", variant, span, f"메일 주소는 {span} 여기로 보내 줘"))

    rrn_front = f"{rng.randrange(80, 100)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    rrn_back = str(rng.randrange(1, 3)) + _digits(rng, 6)
    for variant, span in {
        "dashed": f"{rrn_front}-{rrn_back}",
        "plain": rrn_front + rrn_back,
        "spaces": f"{rrn_front} {rrn_back}",
    }.items():
        cases.append(_Pii("RRN", variant, span, f"주민등록번호 {span} 적어 뒀어요"))

    accounts = {
        "국민은행": f"{_digits(rng, 6)}-{_digits(rng, 2)}-{_digits(rng, 6)}",
        "신한은행": f"110-{_digits(rng, 3)}-{_digits(rng, 6)}",
        "카카오뱅크": f"3333-{_digits(rng, 2)}-{_digits(rng, 7)}",
    }
    for bank, number in accounts.items():
        cases.append(_Pii("ACCOUNT", bank, number, f"입금은 {bank} {number} 여기로 해 주세요"))

    for variant in ("dashed", "spaces", "plain"):
        card = _luhn_card(rng)
        groups = [card[i : i + 4] for i in range(0, 16, 4)]
        span = {"dashed": "-".join(groups), "spaces": " ".join(groups), "plain": card}[variant]
        cases.append(_Pii("CARD", variant, span, f"카드번호 {span} 이거 맞는지 봐 줘"))

    for variant, span in {
        "road": f"서울시 강남구 테헤란로 {rng.randrange(100, 500)}",
        "road_building": f"경기도 성남시 분당구 판교역로 {rng.randrange(100, 300)}",
        "lot_unit": f"부산 해운대구 우동 {rng.randrange(1000, 1500)}-{rng.randrange(1, 9)} 101동 1203호",
    }.items():
        cases.append(_Pii("ADDRESS", variant, span, f"우리 집 주소 {span} 여기야 놀러 와"))

    for name in rng.sample(("김민수", "이지은", "박서준", "최유진", "정하늘", "강도윤"), 4):
        carrier = rng.choice(
            (
                "제 이름은 {n}" + ("이에요" if _has_batchim(name) else "예요"),
                "난 {n}" + ("이야" if _has_batchim(name) else "야") + ", 잘 부탁해",
                "저 {n}" + ("이라고" if _has_batchim(name) else "라고") + " 해요",
            )
        )
        cases.append(_Pii("NAME", "self_intro", name, carrier.format(n=name)))

    handle = rng.choice(("abc123", "sunny_0415", "mingming77"))
    for variant, span, text in (
        ("kakao", handle, f"카톡 아이디 {handle} 추가해 줘"),
        ("kakao_slang", handle, f"카톡 아디 {handle} 이야 ㅎㅎ"),
        ("instagram", f"@{handle}", f"인스타 @{handle} 팔로우해 주세요"),
        ("line", handle, f"라인 ID: {handle} 로 연락 줘"),
    ):
        cases.append(_Pii("MESSENGER", variant, span, text))
    return cases
