"""Fuzzy matching of a contact's question against knowledge-base phrasings.

Robust to case, punctuation, word order and small typos. Text is normalised to content words
(lowercase, no accents or punctuation, no filler words such as "when is the"); each word of a
phrasing is then looked for among the question's words with rapidfuzz's similarity ratio, so
"aplication dedline" still finds "application deadline" and plurals match singulars.

The score (0–100) rewards how much of a phrasing the question contains, so a keyword inside a
longer text matches while a single word shared by several entries ("application") stays ambiguous;
a keyword lost in a long text scores a little lower.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

# Words that carry no topic: question words, pronouns, greetings, auxiliaries.
STOP_WORDS = frozenset(
    """
    a about am an and any are as at be been but by can could did do does for from get got had has
    have hello hey hi how i im if in is it its just know let like me my need of on or our please
    should so tell thank thanks that the their there this to u us want wanted was we were what whats
    when where which who why will with would you your yours hiya ok okay ask asking wondering
    """.split()
)
WORD_SIMILARITY = 75  # rapidfuzz ratio from which two words count as the same word (typos, plurals)
DEFAULT_THRESHOLD = 85  # a match scoring below this does not answer
# Precision above 1/3 (a third of the question's words explained) costs nothing; below, up to 20%.
FOCUS_WEIGHT = 0.2
FOCUS_SATURATION = 3
_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> list[str]:
    """Lowercase words without accents or punctuation ("Don't!" → ["dont"])."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    ascii_text = "".join(ch for ch in folded if not unicodedata.combining(ch))
    ascii_text = ascii_text.replace("'", "").replace("\u2019", "")
    return [word for word in _NON_WORD.split(ascii_text) if word]


def content_words(text: str) -> list[str]:
    """The words that carry meaning; all words when the text is nothing but filler ("hi")."""
    words = normalise(text)
    meaningful = [word for word in words if word not in STOP_WORDS]
    return meaningful or words


def _coverage(needles: list[str], haystack: list[str]) -> float:
    """0–1: how much of `needles` appears in `haystack`, each word compared fuzzily."""
    if not needles or not haystack:
        return 0.0
    total = 0.0
    for word in needles:
        best = process.extractOne(word, haystack, scorer=fuzz.ratio, score_cutoff=WORD_SIMILARITY)
        if best is not None:
            total += best[1] / 100
    return total / len(needles)


def phrase_score(question_words: list[str], phrasing_words: list[str]) -> float:
    """0–100: how well a question matches one phrasing.

    Mostly recall (how much of the phrasing the question contains); precision (how much of the
    question the phrasing explains) only lowers the score of a keyword lost in a long text.
    """
    if not question_words or not phrasing_words:
        return 0.0
    recall = _coverage(phrasing_words, question_words)
    precision = _coverage(question_words, phrasing_words)
    focus = 1 - FOCUS_WEIGHT + FOCUS_WEIGHT * min(1.0, precision * FOCUS_SATURATION)
    return round(100 * recall * focus, 1)


@dataclass(frozen=True)
class Candidate:
    """One knowledge-base entry as the matcher sees it."""

    id: int
    phrasings: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class Match:
    candidate: Candidate
    phrasing: str
    score: float


def best_match(question: str, candidates: Iterable[Candidate]) -> Match | None:
    """The entry whose phrasing best matches the question (ties: the first), or None if none is
    even close. The caller compares the score with its threshold."""
    question_words = content_words(question)
    if not question_words:
        return None
    best: Match | None = None
    for candidate in candidates:
        for phrasing in candidate.phrasings:
            score = phrase_score(question_words, content_words(phrasing))
            if score > 0 and (best is None or score > best.score):
                best = Match(candidate, phrasing, score)
    return best
