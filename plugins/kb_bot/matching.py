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

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from webapp.plugin_api import content_words

WORD_SIMILARITY = 75  # rapidfuzz ratio from which two words count as the same word (typos, plurals)
DEFAULT_THRESHOLD = 85  # a match scoring below this does not answer
# Precision above 1/3 (a third of the question's words explained) costs nothing; below, up to 20%.
FOCUS_WEIGHT = 0.2
FOCUS_SATURATION = 3


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


def phrase_score(question_words: list[str], phrasing_words: list[str]) -> tuple[float, float]:
    """How well a question matches one phrasing: (score 0–100, precision 0–1).

    The score is mostly recall (how much of the phrasing the question contains); precision (how
    much of the question the phrasing explains) only lowers the score of a keyword lost in a long
    text, and decides between phrasings of the same score: asked "FAFSA deadline", the phrasing
    "FAFSA deadline" wins over the keyword "FAFSA", which the question contains too.
    """
    if not question_words or not phrasing_words:
        return 0.0, 0.0
    recall = _coverage(phrasing_words, question_words)
    precision = _coverage(question_words, phrasing_words)
    focus = 1 - FOCUS_WEIGHT + FOCUS_WEIGHT * min(1.0, precision * FOCUS_SATURATION)
    return round(100 * recall * focus, 1), precision


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
    """The entry whose phrasing best matches the question (by score, then precision; ties: the
    first), or None if none is even close. The caller compares the score with its threshold."""
    question_words = content_words(question)
    if not question_words:
        return None
    best: Match | None = None
    best_fit = (0.0, 0.0)
    for candidate in candidates:
        for phrasing in candidate.phrasings:
            fit = phrase_score(question_words, content_words(phrasing))
            if fit[0] > 0 and fit > best_fit:
                best, best_fit = Match(candidate, phrasing, fit[0]), fit
    return best
