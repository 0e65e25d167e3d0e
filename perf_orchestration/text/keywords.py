"""Complaint hot words: the words customers used most in service-ticket subjects.

Latin text is split at non-letters. Chinese (and Japanese) text has no spaces, so each run
of it is cut into words by jieba, with the plant's own product and defect terms kept whole
(complaints.yaml `dictionary`). Stop words are dropped per language, a ticket counts once
per word, and the words are drawn as a word cloud in the Noto CJK font.
"""

from __future__ import annotations

import io
import logging
import re
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import load_model

COMPLAINTS_FILE = "complaints.yaml"
BUNDLED_COMPLAINTS = bundled_file(COMPLAINTS_FILE)
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKENS = re.compile(rf"[{CJK}]+|[^\W\d_{CJK}]+")
Word = Annotated[str, Field(min_length=1, max_length=40)]


class ComplaintsConfig(BaseModel):
    """complaints.yaml: the segmenter's dictionary, stop words per language, words shown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=100)
    shown: int = Field(default=12, ge=1, le=100, description="words listed and drawn")
    dictionary: tuple[Word, ...] = Field(
        default=(), description="the plant's product and defect terms, kept whole")
    stopwords: dict[str, Annotated[str, Field(max_length=20_000)]] = Field(
        default_factory=dict, description="per language (en, zh, ...): words to leave out, "
        "separated by spaces")

    @property
    def all_stopwords(self) -> frozenset[str]:
        return frozenset(w.lower() for words in self.stopwords.values() for w in words.split())


def load_complaints(path: Path | str | None = None) -> ComplaintsConfig:
    """Read and validate complaints.yaml (default: the bundled one), or raise ConfigError."""
    return load_model(Path(path) if path else BUNDLED_COMPLAINTS, ComplaintsConfig)


@cache
def _segmenter(dictionary: tuple[str, ...]):
    import jieba

    logging.getLogger("jieba").setLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    for term in dictionary:
        tokenizer.add_word(term, freq=10**6)  # above any split of it
    return tokenizer


def words_of(text: str, config: ComplaintsConfig) -> set[str]:
    """The words of one subject that say something: Latin words of 3+ letters, CJK words
    of 2+ characters or from the dictionary, no stop words."""
    stop, keep = config.all_stopwords, set(config.dictionary)
    out = set()
    for run in TOKENS.findall(text.lower()):
        if re.match(rf"[{CJK}]", run):
            words = [w for w in _segmenter(config.dictionary).lcut(run, HMM=True)
                     if len(w) > 1 or w in keep]
        else:
            words = [run] if len(run) > 2 else []
        out |= {w for w in words if w not in stop}
    return out


def complaint_keywords(tickets: list[dict], config: ComplaintsConfig | None = None) \
        -> list[dict]:
    """The words customers used most in the tickets, each with the tickets that used it."""
    config = config or load_complaints()
    hits: dict[str, list[str]] = {}
    for t in tickets:
        for w in sorted(words_of(t["subject"] or "", config)):
            hits.setdefault(w, []).append(t["ticket_id"])
    ranked = sorted(hits.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:config.shown]
    return [{"keyword": w, "tickets": len(ids), "ticket_ids": ids} for w, ids in ranked]


def word_cloud_png(keywords: list[dict], width: int = 640, height: int = 300) -> bytes | None:
    """The keywords drawn by how many tickets used them (None without keywords)."""
    if not keywords:
        return None
    from wordcloud import WordCloud

    from perf_orchestration.text.fonts import cjk_font_path

    cloud = WordCloud(font_path=str(cjk_font_path()), width=width, height=height,
                      background_color="white", prefer_horizontal=1.0, random_state=0,
                      colormap="Dark2", margin=6)
    cloud.generate_from_frequencies({k["keyword"]: k["tickets"] for k in keywords})
    buffer = io.BytesIO()
    cloud.to_image().save(buffer, format="PNG")
    return buffer.getvalue()
