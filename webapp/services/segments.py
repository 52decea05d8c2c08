"""SMS length: characters and segments, GSM-7 or UCS-2 (mirrored by static/js/counter.js)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MAX_MESSAGE_LENGTH = 1600

# Line breaks of other kinds (Word's Shift+Enter is a vertical tab; a form feed; NEL) become the
# line feed every phone shows.
OTHER_LINE_BREAKS = str.maketrans({"\v": "\n", "\f": "\n", "\x85": "\n"})
# Control characters (C0, DEL, C1) a text may not hold: no phone shows them, and a terminal obeys them.
CONTROL_CHARACTERS = frozenset(map(chr, [*range(0x20), *range(0x7F, 0xA0)])) - {"\t", "\n", "\r"}


# Letters and marks that show nothing (Hangul fillers, the blank braille cell, the combining
# grapheme joiner, Khmer's inherent vowels).
BLANK_LETTERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")


def shows_nothing(text: str) -> bool:
    """Would the text look empty: only spaces and line breaks, invisible format characters (a
    zero-width space), combining marks with no letter to sit on, and BLANK_LETTERS. Any other
    letter, mark or emoji shows, emoji newer than Python's Unicode tables included."""
    return all(
        char.isspace() or char in BLANK_LETTERS or unicodedata.category(char) in ("Zs", "Cf", "Mn")
        for char in text
    )


def control_character_problem(text: str) -> str | None:
    """Why a text to be sent cannot be (its first control character), or None."""
    control = next((char for char in text if char in CONTROL_CHARACTERS), None)
    if control is None:
        return None
    return f"The text holds a control character (U+{ord(control):04X}) that no message can carry; remove it."

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentCount:
    characters: int
    segments: int
    encoding: str  # "GSM-7" or "UCS-2"


def count_segments(text: str) -> SegmentCount:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    else:
        segments = -(-units // multi)
    return SegmentCount(characters=len(text), segments=segments, encoding=encoding)
