"""Sanity checks on the figures a unit filed, against what the units filed before."""

from __future__ import annotations

from notify.figures import FormLabels
from parsers.forms import builtin_definitions
from parsers.submission import far_outside

HISTORY = {"1.2": [120, 90, 150, 200, 80, 110], "2.1": [3000, 2500], "6.3": [0, 0, 0, 0, 0]}


def test_a_figure_twenty_times_the_usual_is_questioned() -> None:
    [warning] = far_outside({"1.2": 12000, "1.1": 3}, HISTORY)
    assert warning == "附件2 第1项 第2空 填报 12000，远高于各单位以往的数值（中位数 115），请核实"


def test_ordinary_figures_small_ones_and_blanks_pass() -> None:
    assert far_outside({"1.2": 2000, "1.1": 99, "1.3": None, "7.1": "演讲比赛"}, HISTORY) == []


def test_too_little_history_or_a_usual_zero_says_nothing() -> None:
    assert far_outside({"2.1": 900000, "6.3": 5000}, HISTORY) == []


def test_the_ack_shows_figures_under_the_words_printed_on_the_form() -> None:
    labels = FormLabels.from_definitions(builtin_definitions())
    assert labels.labelled({"1.1": 3, "1.2": None, "7.1": "演讲比赛"}) == {
        "1.1 组织开展宣讲活动（场）": 3,
        "1.2 参与（人次）": None,
        "7.1 活动名称": "演讲比赛",
    }
