"""Bytes -> text: byte-order marks, UTF-8 (also cut off mid-character), UTF-16 without a BOM,
GB18030/GBK, Big5, and binary detection.

Standard library only. ``read_text`` is the entry point; it raises SkipFile when
the bytes are not a text file.
"""

from __future__ import annotations

import codecs
import re

from index.errors import SkipFile

_BOMS = (  # UTF-32 first: its LE BOM starts with the UTF-16 LE BOM
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_BINARY = "not a text file (binary data)"


def read_text(data: bytes) -> str:
    """Decode file bytes to text with ``\\n`` line endings, or raise SkipFile.

    Order: BOM, UTF-16 without BOM (NULs at alternating positions), UTF-8 (its
    last character may be cut off), UTF-8 with a few bad bytes, then GB18030 (a
    superset of GBK/GB2312) or Big5, whichever reads as ordinary Chinese.
    """
    if not data:
        raise SkipFile("empty file")
    text = None
    for bom, enc in _BOMS:
        if data.startswith(bom):
            text = _decode_cut(data[len(bom):], enc)
            if text is None:
                raise SkipFile(f"not a text file (invalid {enc} after its byte-order mark)")
            break
    if text is None and b"\x00" in data:
        # Text encodings other than UTF-16/32 never contain NUL bytes.
        text = _utf16_without_bom(data)
        if text is None:
            raise SkipFile(_BINARY)
    if text is None:
        text = _decode_8bit(data)
    if _looks_binary(text):
        raise SkipFile(_BINARY)
    # Mixed line endings (CRLF, lone CR, Unicode line/paragraph separators) all become \n.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")


def _decode_cut(data: bytes, enc: str) -> str | None:
    """``data`` decoded, allowing only an incomplete last character (a file cut off mid-write
    or mid-download), which is dropped; None when the bytes are not ``enc`` at all."""
    try:
        return data.decode(enc)
    except UnicodeDecodeError:
        pass
    try:
        return codecs.getincrementaldecoder(enc)().decode(data, final=False)
    except UnicodeDecodeError:
        return None


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a BOM, or None.

    NUL bytes at alternating positions hint at UTF-16 (ASCII in UTF-16 is one NUL
    per character), but Chinese text has NULs on both sides too ("一" is U+4E00),
    so the byte order is chosen by which decoding reads as ordinary text.
    """
    best, best_share = None, 0.0
    for enc in ("utf-16-le", "utf-16-be"):
        text = _decode_cut(data, enc)  # an odd length is UTF-16 cut off after half a character
        if text is None:
            continue
        share = _plausible_share(text)
        if share > best_share:
            best, best_share = text, share
    return best if best_share >= 0.9 else None


# Characters ordinary text is made of: ASCII, Latin, Greek/Cyrillic, punctuation and
# symbols, CJK punctuation, kana, CJK ideographs, Hangul, full-width forms.
_PLAUSIBLE_RE = re.compile(
    "[\t\n\r\x20-\x7e\u00a0-\u024f\u0370-\u04ff\u2000-\u206f\u20a0-\u20cf\u2100-\u23ff"
    "\u2460-\u27bf\u3000-\u30ff\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]"
)


def _plausible_share(text: str) -> float:
    sample = text[:20000]
    return len(_PLAUSIBLE_RE.findall(sample)) / len(sample) if sample else 0.0


def _decode_8bit(data: bytes) -> str:
    text = _decode_cut(data, "utf-8")  # a UTF-8 file cut off mid-character is still UTF-8
    if text is not None:
        return text
    # A UTF-8 file with a stray bad byte (e.g. truncated mid-character) would decode
    # "successfully" as GB18030 mojibake; GBK text read as UTF-8 fails almost everywhere.
    loose = data.decode("utf-8", errors="replace")
    bad = loose.count("\ufffd")
    if bad <= max(1, len(loose) // 1000) and sum(ord(c) > 127 for c in loose) > 10 * bad:
        return loose
    return _decode_chinese(data)


def _decode_chinese(data: bytes) -> str:
    """GB18030 (GBK, GB2312) or Big5, whichever reads as the more common characters.

    Almost any Big5 byte string is also valid GB18030, so decoding alone cannot
    tell them apart; what can is where the characters fall. Ordinary simplified
    text is nearly all punctuation and level-1 hanzi of GB2312 (the 3,755 most
    frequent characters); ordinary traditional text is nearly all punctuation and
    the 5,401 frequent hanzi of Big5. Big5 read as GB18030 lands on kana, Greek,
    box drawing and rare GBK extensions; GBK read as Big5 lands on rare hanzi.
    """
    gb = _decode_cut(data, "gb18030")
    big5 = _decode_cut(data, "cp950")  # Microsoft's Big5, a superset of plain Big5
    if big5 is not None and (gb is None or _common_share(big5, "cp950") > _common_share(gb, "gb2312")):
        return big5
    if gb is None:
        raise SkipFile("not a text file (unknown encoding: not UTF-8, UTF-16, GB18030 or Big5)")
    return gb


def _common_share(text: str, table: str) -> float:
    """Share of the non-ASCII characters that are punctuation or frequent hanzi in ``table``."""
    sample = [c for c in text[:20000] if ord(c) > 127]
    if not sample:
        return 1.0
    good = 0
    for c in sample:
        try:
            b = c.encode(table)
        except UnicodeEncodeError:
            continue
        if len(b) != 2:
            continue
        if table == "gb2312":
            good += b[0] in (0xA1, 0xA3) or 0xB0 <= b[0] <= 0xD7  # punctuation, full-width forms, level-1 hanzi
        else:
            code = b[0] << 8 | b[1]
            good += 0xA140 <= code <= 0xA3BF or 0xA440 <= code <= 0xC67E  # punctuation, frequent hanzi
    return good / len(sample)


def _looks_binary(text: str) -> bool:
    sample = text[:20000]
    if not sample:
        return False
    if "\x00" in sample:
        return True
    controls = sum(1 for c in sample if (ord(c) < 32 and c not in "\n\r\t\f\v") or 0x7F <= ord(c) <= 0x9F)
    return controls > max(2, len(sample) // 50)
