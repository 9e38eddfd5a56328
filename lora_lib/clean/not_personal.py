"""Findings that name no person, whatever rule found them: a customer-service number, a role mailbox, a
private or loopback IP address. pii.redact and the tagger's second pass (pii_tagger.py) both drop these."""

from __future__ import annotations

import ipaddress
import re

# Customer-service numbers (1588-1234) are a company's, not a person's.
_SERVICE_NUMBER = re.compile(r"^1[5-9]\d{2}[ .-]?\d{4}$")


# Role mailboxes (RFC 2142 and their everyday kin) belong to an office, not a person: "help@coupang.com".
_ROLE_MAILBOX = re.compile(r"(?:no-?reply|do-?not-?reply|donotreply|help|helpdesk|support|info|contact|cs|service|customer|admin|"
                           r"webmaster|postmaster|hostmaster|abuse|security|sales|marketing|recruit|recruiting|jobs|careers|hr|"
                           r"press|privacy|billing|newsletter|notice|notification|notifications|mailer-daemon)", re.IGNORECASE)


# Example values no one can own: all-zero numbers ("010-0000-0000", "000000-0000000") and RFC 2606 domains
# ("hong@example.com"). "010-1234-5678" is written as an example too, but it is a number someone may have: masked.
_EXAMPLE_DIGITS = re.compile(r"^(?:010)?0{7,8}$|^0{6,}$")
_EXAMPLE_DOMAIN = re.compile(r"@\s?(?:example|test|sample|domain)\.(?:com|org|net|co\.kr|kr)$", re.IGNORECASE)
# A number that a word before it says is an order's, a booking's or an office's, not a person's ("주문번호
# A240915-7731", "비자 신청번호 VA-2024-…", "관리사무소 전화 031-…"); a number kinds only (PHONE, ID kinds).
_NOT_A_PERSONS_NUMBER = re.compile(
    r"(?:(?:주문|신청|예약|송장|운송장|접수|승인|결제|거래|조회|배송|티켓|영수증|문의|민원)\s?번호|관리사무소|주민센터|행정복지센터|"
    r"동사무소|구청|시청|대표번호|고객센터|콜센터|사무국|행정실|교무실|접수처|안내데스크|대표전화)\s?(?:전화|번호|전화번호|연락처)?\s?(?:는|은|가|이|:|：)?\s?$")
_NUMBER_LABELS = frozenset({"PHONE", "ID", "ACCOUNT", "CARD", "RRN", "FRN", "PASSPORT", "DRIVER_LICENSE", "BUSINESS_REG",
                            "MEDICAL_INSURANCE"})


def _not_personal(span: tuple[str, int, int], text: str) -> bool:
    """A finding that names no person: a role mailbox, an example value, an order's or an office's number, a
    private or loopback IP address (a home router's 192.168.0.1 is every home router's)."""
    label, s, e = span
    if label == "EMAIL" and "@" in text[s:e]:
        v = text[s:e].strip()
        return bool(_ROLE_MAILBOX.fullmatch(v.split("@", 1)[0].strip()) or _EXAMPLE_DOMAIN.search(v))
    if label in _NUMBER_LABELS:
        digits = "".join(c for c in text[s:e] if c.isdigit())
        example = not re.search(r"[A-Za-z]", text[s:e]) and _EXAMPLE_DIGITS.match(digits)  # "M0000000" is a passport
        return bool(example or _NOT_A_PERSONS_NUMBER.search(text, max(0, s - 14), s))
    if label == "IP":
        try:
            ip = ipaddress.ip_address(text[s:e].strip())
        except ValueError:
            return False
        return ip.is_private or ip.is_loopback or ip.is_unspecified
    return False
