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


def _not_personal(span: tuple[str, int, int], text: str) -> bool:
    """A finding that names no person: a role mailbox, a private or loopback IP address (a home router's
    192.168.0.1 is every home router's)."""
    label, s, e = span
    if label == "EMAIL" and "@" in text[s:e]:
        return bool(_ROLE_MAILBOX.fullmatch(text[s:e].split("@", 1)[0].strip()))
    if label == "IP":
        try:
            ip = ipaddress.ip_address(text[s:e].strip())
        except ValueError:
            return False
        return ip.is_private or ip.is_loopback or ip.is_unspecified
    return False
