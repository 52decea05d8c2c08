"""The built-in knowledge-base bot: answers from the office's knowledge-base entries.

Reads the office's knowledge base through the plugin API (`self.records.knowledge_base`), never
writes it: an entry is a set of question phrasings or keywords and the answer to send. The best
fuzzy match at or above the threshold (config KB_MATCH_THRESHOLD, 0–100, default 85) answers;
otherwise the bot says it does not know and Parley applies the office's "I don't know" setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugins.kb_bot.matching import DEFAULT_THRESHOLD, Candidate, best_match
from webapp.plugin_api import Bot, BotContext, BotReply, InboundMessage


class KnowledgeBaseBot(Bot):
    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        threshold = config.get("KB_MATCH_THRESHOLD", DEFAULT_THRESHOLD)
        if not isinstance(threshold, int | float) or not 0 < threshold <= 100:
            raise ValueError(
                f"KB_MATCH_THRESHOLD must be a number from 1 to 100, not {threshold!r}"
            )
        self.threshold = float(threshold)

    def reply(self, context: BotContext, inbound: InboundMessage) -> BotReply:
        match = best_match(inbound.body, self._candidates(context.office_id))
        if match is None:
            return BotReply()
        found = {
            "confidence": match.score,
            "source_id": match.candidate.id,
            "matched": match.phrasing,
        }
        if match.score < self.threshold:
            return BotReply(**found)  # too weak to answer with: "I don't know"
        return BotReply(text=match.candidate.answer, **found)

    def _candidates(self, office_id: int) -> list[Candidate]:
        return [
            Candidate(id=entry.id, phrasings=entry.phrasings, answer=entry.answer)
            for entry in self.records.knowledge_base.entries(office_id)
        ]
