"""Entities from the training data's regexes, lookup tables and annotated values, and synonyms.

Patterns are bounded by "no ASCII letter or digit next to it" rather than \\b, because in Chinese
text a number sits right against Han characters ("订单202611180042到哪了"), where \\b never fires.
When matches overlap the longest wins, then the earliest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

from bot.nlu.component import BaseComponent, TrainContext
from bot.nlu.types import EntitySpan, Message
from bot.pipeline_config.params import EntitySynonymMapperParams, RegexEntityExtractorParams

_LEFT = r"(?<![A-Za-z0-9])"
_RIGHT = r"(?![A-Za-z0-9])"


class RegexEntityExtractor(BaseComponent):
    name: ClassVar[str] = "RegexEntityExtractor"
    params: RegexEntityExtractorParams

    def __init__(
        self, params: RegexEntityExtractorParams, patterns: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(params)
        self.patterns: dict[str, list[str]] = patterns or {}
        self._compiled: list[tuple[str, re.Pattern[str]]] = []
        self._compile()

    def _compile(self) -> None:
        flags = 0 if self.params.case_sensitive else re.IGNORECASE
        self._compiled = [
            (entity, re.compile(f"{_LEFT}(?:{'|'.join(f'(?:{p})' for p in pats)}){_RIGHT}", flags))
            for entity, pats in sorted(self.patterns.items())
            if pats
        ]

    def train(self, ctx: TrainContext) -> None:
        patterns: dict[str, list[str]] = {}
        if self.params.use_regexes:
            for rx in ctx.data.regexes:
                patterns.setdefault(rx.name, []).append(rx.pattern)
        literals: dict[str, set[str]] = {}
        if self.params.use_lookup_tables:
            for name, values in ctx.data.lookups.items():
                literals.setdefault(name, set()).update(v.strip() for v in values if v.strip())
        if self.params.use_annotated_values:
            regex_entities = {rx.name for rx in ctx.data.regexes}
            for ex in ctx.data.examples:
                for ent in ex.entities:
                    # Values of regex-shaped entities (order numbers) would only overfit.
                    if ent.entity not in regex_entities:
                        literals.setdefault(ent.entity, set()).add(ex.text[ent.start : ent.end])
        for name, found in literals.items():
            # Longest first, so "Kite X5 Pro" wins over "Kite X5" inside one alternation.
            ordered = sorted(found, key=lambda v: (-len(v), v))
            patterns.setdefault(name, []).extend(re.escape(v) for v in ordered)
        self.patterns = patterns
        self._compile()

    def extract(self, text: str) -> list[EntitySpan]:
        found: list[EntitySpan] = []
        for entity, rx in self._compiled:
            for m in rx.finditer(text):
                if m.end() > m.start():
                    found.append(
                        EntitySpan(entity, m.group(0), m.start(), m.end(), extractor=self.name)
                    )
        found.sort(key=lambda e: (-(e.end - e.start), e.start))
        kept: list[EntitySpan] = []
        for ent in found:
            if all(ent.end <= k.start or ent.start >= k.end for k in kept):
                kept.append(ent)
        return sorted(kept, key=lambda e: e.start)

    def process(self, message: Message) -> None:
        message.entities.extend(self.extract(message.text))

    def persist(self, directory: Path) -> None:
        (directory / "patterns.json").write_text(
            json.dumps(self.patterns, ensure_ascii=False, indent=1), encoding="utf-8"
        )

    @classmethod
    def load(cls, params: Any, directory: Path) -> RegexEntityExtractor:
        patterns = json.loads((directory / "patterns.json").read_text(encoding="utf-8"))
        return cls(params, patterns)


class EntitySynonymMapper(BaseComponent):
    """Maps an extracted value onto its canonical form ("x5 pro" -> "Kite X5 Pro")."""

    name: ClassVar[str] = "EntitySynonymMapper"
    params: EntitySynonymMapperParams

    def __init__(
        self, params: EntitySynonymMapperParams, synonyms: dict[str, str] | None = None
    ) -> None:
        super().__init__(params)
        self.synonyms = synonyms or {}

    def train(self, ctx: TrainContext) -> None:
        self.synonyms = dict(ctx.data.synonyms)

    def process(self, message: Message) -> None:
        mapped = []
        for ent in message.entities:
            canonical = self.synonyms.get(ent.value.casefold())
            if canonical is not None and canonical != ent.value:
                ent = EntitySpan(
                    ent.entity, canonical, ent.start, ent.end, ent.extractor, ent.role, ent.group
                )
            mapped.append(ent)
        message.entities = mapped

    def persist(self, directory: Path) -> None:
        (directory / "synonyms.json").write_text(
            json.dumps(self.synonyms, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, params: Any, directory: Path) -> EntitySynonymMapper:
        return cls(params, json.loads((directory / "synonyms.json").read_text(encoding="utf-8")))
