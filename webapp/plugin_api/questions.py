"""How a knowledge-base question is read: its content words, case, accents, punctuation and
filler words ("when is the") aside. The built-in bot matches contacts' texts on them, and the
knowledge base refuses a phrasing whose words another entry already has."""

from __future__ import annotations

import re
import unicodedata

# Words that carry no topic: question words, pronouns, greetings, auxiliaries.
STOP_WORDS = frozenset(
    """
    a about am an and any are as at be been but by can could did do does for from get got had has
    have hello hey hi how i im if in is it its just know let like me my need of on or our please
    should so tell thank thanks that the their there this to u us want wanted was we were what whats
    when where which who why will with would you your yours hiya ok okay ask asking wondering
    """.split()
)
_NON_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> list[str]:
    """Lowercase words without accents or punctuation ("Don't!" → ["dont"]), in any script
    ("Стипендия?" → ["стипендия"]; Hangul syllables are composed again after the accents go)."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    plain = unicodedata.normalize("NFC", plain.replace("'", "").replace("\u2019", ""))
    return [word for word in _NON_WORD.split(plain) if word]


def content_words(text: str) -> list[str]:
    """The words that carry meaning; all words when the text is nothing but filler ("hi")."""
    words = normalise(text)
    meaningful = [word for word in words if word not in STOP_WORDS]
    return meaningful or words
