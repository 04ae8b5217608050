"""Optional anonymisation at ingest (数据匿名化): personal data -> typed placeholders.

Runs on a document's text before anything is chunked, embedded or stored, so the
index never holds the originals. Chinese text puts numbers right against CJK
characters ("手机13812345678"), and ``\\b`` sees no boundary there (CJK counts as
a word character), so every pattern is fenced by explicit ASCII lookarounds.
Patterns are ASCII-only (``re.ASCII``): ``\\d`` is 0-9, never full-width digits.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date
from typing import Callable

# No digit, ASCII letter, "@", "." or ":" in any placeholder, so no pattern can
# match one again and redacting twice changes nothing.
PLACEHOLDERS: dict[str, str] = {
    "email": "[邮箱]",
    "ip": "[IP地址]",
    "id_card": "[身份证号]",
    "bank_card": "[银行卡号]",
    "phone": "[电话号码]",
}


@dataclass(frozen=True)
class Redaction:
    text: str
    counts: dict[str, int]  # kind -> replacements; only kinds that occurred

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# A number stands alone: no ASCII letter or digit on either side (keeps "Qwen2.5-72B",
# hashes, "v1.2.3.4" out) and not the tail or head of a decimal ("3.1415...", "...5.0").
_START = r"(?<![0-9A-Za-z])(?<![0-9]\.)"
_END = r"(?![0-9A-Za-z])(?!\.[0-9])"

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])", re.ASCII
)
# IPv6 candidates only; ipaddress decides. At least two colons ("12:30" is a time).
# An IPv4 tail ("::ffff:192.168.1.1") is tried first so it stays with its address.
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4})(?![0-9A-Za-z:]|\.\d)",
    re.ASCII,
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"{_START}{_OCTET}(?:\.{_OCTET}){{3}}{_END}", re.ASCII)
_ID18 = re.compile(rf"{_START}\d{{17}}[\dXx]{_END}", re.ASCII)
_ID15 = re.compile(rf"{_START}\d{{15}}{_END}", re.ASCII)
# 16-19 digits run together, or in fours with one consistent separator.
_CARD = re.compile(rf"{_START}(?:\d{{16,19}}|\d{{4}}([ -])\d{{4}}\1\d{{4}}\1\d{{4}}(?:\1\d{{1,3}})?){_END}", re.ASCII)
# Mobile: optional +86/0086/86, then 11 digits as one run or 3-4-4 with one separator.
# Landline: 0 + 2-3 digit area code, dash, 7-8 digits (dates like 2024-01-15 never start 0xx-).
_PHONE = re.compile(
    rf"{_START}(?:(?:(?:\+|00)?86[ -]?)?1[3-9]\d([ -]?)\d{{4}}\1\d{{4}}|0\d{{2,3}}-\d{{7,8}}){_END}", re.ASCII
)

_ID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


def _valid_date(y: int, m: int, d: int) -> bool:
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


def _id18_ok(s: str) -> bool:
    """GB 11643: birth date YYYYMMDD at 6..14 and an ISO 7064 MOD 11-2 check character."""
    y, m, d = int(s[6:10]), int(s[10:12]), int(s[12:14])
    if not (1900 <= y <= 2099 and _valid_date(y, m, d)):
        return False
    check = "10X98765432"[sum(int(c) * w for c, w in zip(s, _ID_WEIGHTS)) % 11]
    return s[17].upper() == check


def _id15_ok(s: str) -> bool:
    """Legacy 15-digit numbers (before 1999) have no check digit; YYMMDD is all we can test."""
    return _valid_date(1900 + int(s[6:8]), int(s[8:10]), int(s[10:12]))


def _luhn_ok(s: str) -> bool:
    digits = [int(c) for c in s if c.isdigit()]
    total = 0
    for i, n in enumerate(reversed(digits)):
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _ipv6_ok(s: str) -> bool:
    if not re.search(r"[0-9A-Fa-f]", s):  # "::" alone is not worth a placeholder
        return False
    try:
        return ipaddress.ip_address(s).version == 6
    except ValueError:
        return False


# Order matters. E-mails first: their local parts are often phone or QQ numbers.
# IPs before bare numbers. ID cards before bank cards, so an 18-digit ID that happens
# to pass Luhn is counted once, as an ID; a number failing the ID checks falls
# through to the Luhn test. Phones last; their digit lookarounds keep them out of
# longer runs that were left alone (e.g. an 18-digit number failing both checks).
_RULES: list[tuple[str, re.Pattern[str], Callable[[str], bool]]] = [
    ("email", _EMAIL, lambda s: True),
    ("ip", _IPV6, _ipv6_ok),
    ("ip", _IPV4, lambda s: True),
    ("id_card", _ID18, _id18_ok),
    ("id_card", _ID15, _id15_ok),
    ("bank_card", _CARD, _luhn_ok),
    ("phone", _PHONE, lambda s: True),
]


def redact(text: str) -> Redaction:
    """Replace personal data in ``text`` by placeholders; pure, and idempotent."""
    counts: dict[str, int] = {}
    for kind, pattern, valid in _RULES:

        def swap(m: re.Match[str], kind: str = kind, valid: Callable[[str], bool] = valid) -> str:
            if not valid(m.group(0)):
                return m.group(0)
            counts[kind] = counts.get(kind, 0) + 1
            return PLACEHOLDERS[kind]

        text = pattern.sub(swap, text)
    return Redaction(text, counts)
