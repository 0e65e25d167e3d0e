"""Complaint hot words read Chinese: subjects are segmented (jieba) with the plant's own
terms kept whole, stop words left out per language, and the words drawn as a word cloud
in a CJK font the install brings, as every picture of the project is."""

from __future__ import annotations

import io
import warnings

import pytest

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.text.keywords import (
    ComplaintsConfig,
    complaint_keywords,
    load_complaints,
    word_cloud_png,
    words_of,
)

SUBJECTS = ["支架焊缝开裂", "来料检验发现焊缝气孔", "焊缝有气孔", "订单交付延迟", "交付数量错误",
            "late delivery of order"]


def _tickets(subjects):
    return [{"ticket_id": f"T{i}", "subject": s} for i, s in enumerate(subjects, 1)]


def test_chinese_complaints_group_by_word_not_by_whole_subject():
    words = {k["keyword"]: k["ticket_ids"] for k in complaint_keywords(_tickets(SUBJECTS))}
    assert words["焊缝"] == ["T1", "T2", "T3"]  # three subjects, one word
    assert words["气孔"] == ["T2", "T3"]
    assert words["交付"] == ["T4", "T5"]
    assert words["delivery"] == ["T6"]
    assert "支架焊缝开裂" not in words  # the old reading: a whole run was one "word"
    assert not {"有", "发现", "of"} & set(words)  # stop words and single characters


def test_the_plant_dictionary_keeps_its_terms_whole_and_stop_words_are_its_own():
    base = ComplaintsConfig(version="t")
    assert "包装破损" not in words_of("到货包装破损", base)
    plant = ComplaintsConfig(version="t", dictionary=("包装破损",),
                             stopwords={"zh": "到货", "en": "order"})
    assert words_of("到货包装破损", plant) == {"包装破损"}
    assert words_of("late order", plant) == {"late"}


def test_the_word_cloud_is_drawn_and_the_font_has_the_glyphs():
    from fontTools.ttLib import TTCollection
    from PIL import Image

    from perf_orchestration.text.fonts import cjk_font_path

    png = word_cloud_png(complaint_keywords(_tickets(SUBJECTS)))
    assert png is not None and Image.open(io.BytesIO(png)).size == (640, 300)
    cmap = TTCollection(str(cjk_font_path())).fonts[0]["cmap"].getBestCmap()
    assert all(ord(c) in cmap for c in "焊缝气孔交付延迟品質センター焊装车间")
    assert word_cloud_png([]) is None


def test_cjk_names_in_the_heatmap_find_their_glyphs():
    from perf_orchestration.goals.heatmap import render_png

    rows = [{"subject": s, "metric": "first_pass_yield", "template": "manufacturing",
             "status": "green", "progress_ratio": 1.0, "goal_id": "g", "yellow_below": 0.995,
             "red_below": 0.98} for s in ("焊接一班", "品質センター", "T1")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of every glyph a font lacks
        assert render_png(rows, "目标健康 焊装车间")[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_bad_complaints_file_is_one_line_naming_the_field(tmp_path):
    path = tmp_path / "complaints.yaml"
    path.write_text("version: v\nshown: 0\ndictionary: [\"\"]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_complaints(path)
    assert any("shown" in p for p in err.value.problems)
    assert any("dictionary[0]" in p for p in err.value.problems)
    assert all(p.startswith(f"{path}: ") for p in err.value.problems)
