"""The leadership digest, pure: which one is due, and what its HTML, text and attachment say.

Numbers are checked against sums worked out here from the replayed submissions; the HTML is
parsed (lxml), not searched as text.
"""

from __future__ import annotations

import io
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import lxml.html  # type: ignore[import-untyped]
import openpyxl
import pytest

from notify.digest import DigestFacts, build_digest, digest_content, digest_due, workbook_name
from notify.figures import FormLabels, Tally
from notify.mail import Letterhead
from notify.templates import Rendered, Templates
from notify.workbook import build_workbook
from parsers.forms import builtin_definitions, definition_for
from store.config import FigureMode, Settings, load_settings
from store.model import Campaign
from store.outbox import digest_key
from tests.baosong_cli import ROOT
from tests.campaign_data import UNITS, Sent, at, expected_figures, plan, status_of, sum_of

STATISTICS = definition_for(builtin_definitions(), "statistics")
HELD = [b.key for item in STATISTICS.items for b in item.blanks if b.unit in ("场", "场/次")]
PEOPLE = [b.key for item in STATISTICS.items for b in item.blanks if b.unit == "人次"]
TWO_HOURS = timedelta(hours=2)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(ROOT / "config.yaml")


@pytest.fixture(scope="module")
def campaign(settings: Settings) -> Campaign:
    return settings.campaign_model()


def content(settings: Settings, sent: list[Sent], deadline_id: str, *, unsorted: int = 0,
            modes: dict[str, FigureMode] | None = None) -> tuple[Rendered, bytes]:
    campaign = settings.campaign_model()
    deadline = campaign.deadline(deadline_id)
    status = status_of(campaign, sent, deadline.due + TWO_HOURS, unsorted)
    labels = FormLabels.from_definitions(builtin_definitions())
    overrides = modes or {}
    tally = Tally(status, labels.blanks, lambda key: overrides.get(key, "weekly"))
    letterhead = Letterhead.from_settings(settings)
    rendered = digest_content(DigestFacts(status, deadline, campaign, tally, labels), Templates(), letterhead)
    return rendered, build_workbook(status, campaign, labels, tally, deadline, letterhead)


def page(rendered: Rendered) -> Any:
    return lxml.html.fromstring(rendered.html)


def section(tree: Any, title: str) -> Any:
    """The elements under the <h2> with this title, up to the next <h2>."""
    [heading] = tree.xpath(f"//h2[normalize-space()='{title}']")
    found = []
    for sibling in heading.itersiblings():
        if sibling.tag == "h2":
            break
        found.append(sibling)
    return found


def text_of(elements: list[Any]) -> str:
    return "".join(e.text_content() for e in elements)


# --- which digest is due ------------------------------------------------------------------------


def test_the_digest_of_a_deadline_is_due_once_its_time_has_come(campaign: Campaign) -> None:
    week1 = campaign.deadline("week-1")
    assert digest_due(campaign, at("2023-06-07T13:59"), TWO_HOURS, set()) == campaign.deadline("setup")
    assert digest_due(campaign, at("2023-06-07T14:00"), TWO_HOURS, {digest_key("setup")}) == week1
    assert digest_due(campaign, at("2023-06-07T14:00"), TWO_HOURS, {digest_key("week-1")}) is None
    assert digest_due(campaign, at("2023-05-30T10:00"), TWO_HOURS, set()) is None


def test_a_missed_digest_goes_out_late_once_and_a_superseded_one_never(campaign: Campaign) -> None:
    # Down from before week 1's digest time until after week 2's: only week 2's goes out.
    later = at("2023-06-15T09:00")
    assert digest_due(campaign, later, TWO_HOURS, {digest_key("setup")}) == campaign.deadline("week-2")
    sent = {digest_key("setup"), digest_key("week-2")}
    assert digest_due(campaign, later, TWO_HOURS, sent) is None
    assert digest_due(campaign, at("2023-06-20T09:00"), TWO_HOURS, sent) is None


def test_the_final_digest_follows_the_summary_deadline(campaign: Campaign) -> None:
    assert digest_due(campaign, at("2023-07-01T02:00"), TWO_HOURS, set()) == campaign.deadline("summary")
    assert digest_due(campaign, at("2023-07-01T01:58"), TWO_HOURS, set()) == campaign.deadline("week-4")


# --- what it says -------------------------------------------------------------------------------


def test_the_weekly_digest_counts_and_names_who_reported(settings: Settings) -> None:
    rendered, _ = content(settings, plan("week-2"), "week-2")
    tree = page(rendered)
    tiles = [td for td in section(tree, "报送情况")[0].xpath(".//td") if td.xpath("./div")]
    counts = {td.xpath("./div")[1].text_content(): int(td.xpath("./div")[0].text_content()) for td in tiles}
    assert counts == {"按时": 12, "逾期": 1, "未报": 1}
    said = text_of(section(tree, "报送情况"))
    assert "逾期：平陆县工科局（6月14日 13:05）" in said
    assert "未报：夏县工科局" in said
    assert rendered.subject == '2023年"安全生产月"第2周进展汇总：按时12 逾期1 未报1'


def test_headline_figures_are_the_weeks_sums_with_the_change_and_the_campaign_total(settings: Settings) -> None:
    sent = plan("week-2")
    rendered, _ = content(settings, sent, "week-2")
    week1, week2 = expected_figures(sent, "week-1"), expected_figures(sent, "week-2")

    def over(week: dict[str, dict[str, Any]], keys: list[str]) -> int:
        return sum_of([week[u].get(k) for u in UNITS for k in keys]) or 0

    tiles = section(page(rendered), "本周主要数据")[0].xpath(".//td[div]")
    for tile, keys in zip(tiles, (HELD, PEOPLE), strict=True):
        label, number, detail = (d.text_content() for d in tile.xpath("./div"))
        assert int(number) == over(week2, keys), label
        assert f"较上周 {over(week2, keys) - over(week1, keys):+d}" in detail
        assert f"累计 {over(week1, keys) + over(week2, keys)}" in detail
    plain = rendered.text
    assert f"开展各类活动 {over(week2, HELD)} 场次" in plain


def test_item_rows_show_the_week_its_change_and_the_campaign_to_date(settings: Settings) -> None:
    sent = plan("week-2")
    rendered, _ = content(settings, sent, "week-2")
    week1, week2 = expected_figures(sent, "week-1"), expected_figures(sent, "week-2")
    [table] = [e for e in section(page(rendered), "分项数据") if e.tag == "table"]
    headings = [th.text_content() for th in table.xpath(".//tr[1]/th")]
    assert headings == ["项目", "本周", "较上周", "累计"]
    rows = [tr for tr in table.xpath(".//tr[td]") if len(tr.xpath("./td")) == 4]
    shown = [b for item in STATISTICS.items for b in item.blanks if not b.text]
    assert len(rows) == len(shown)
    for tr, blank in zip(rows, shown, strict=True):
        cells = [td.text_content() for td in tr.xpath("./td")]
        this = sum_of([week2[u].get(blank.key) for u in UNITS])
        before = sum_of([week1[u].get(blank.key) for u in UNITS])
        assert cells[0].endswith(f"（{blank.unit}）"), blank.key
        assert cells[1] == str(this), blank.key
        assert cells[2] == ("持平" if this == before else f"{this - before:+d}"), blank.key  # type: ignore[operator]
        assert cells[3] == str(sum_of([this, before])), blank.key


def test_in_cumulative_mode_the_week_is_the_growth_since_the_week_before(settings: Settings) -> None:
    sent = plan("week-2")
    everything: dict[str, FigureMode] = {b.key: "cumulative" for item in STATISTICS.items for b in item.blanks}
    rendered, _ = content(settings, sent, "week-2", modes=everything)
    week1, week2 = expected_figures(sent, "week-1"), expected_figures(sent, "week-2")
    to_date = {u: week2[u].get("1.1") if isinstance(week2[u].get("1.1"), int) else week1[u].get("1.1")
               for u in UNITS}
    total_now, total_before = sum_of(list(to_date.values())), sum_of([week1[u].get("1.1") for u in UNITS])
    [table] = [e for e in section(page(rendered), "分项数据") if e.tag == "table"]
    first = next(tr for tr in table.xpath(".//tr[td]") if len(tr.xpath("./td")) == 4)
    cells = [td.text_content() for td in first.xpath("./td")]
    assert cells[0].startswith("组织开展宣讲活动")
    assert cells[1] == str(total_now - total_before)  # type: ignore[operator]
    assert cells[3] == str(total_now)


def test_links_and_feature_activities_of_the_week(settings: Settings) -> None:
    sent = plan("week-2")
    rendered, _ = content(settings, sent, "week-2")
    found = section(page(rendered), "特色活动和媒体报道")
    links: list[str] = [a.get("href") for e in found for a in e.xpath(".//a")]
    week2 = [a for s in sent if s.deadline_id == "week-2" for a in s.activities]
    wanted = {a.link for a in week2 if a.link and a.link.startswith("http")}
    assert set(links) == wanted and len(links) == len(wanted)
    assert "危化企业应急演练观摩（第2周）" in text_of(found)
    assert "见附件图片" not in links
    for link in wanted:
        assert link in rendered.text


def test_what_leaders_should_know_beyond_the_counts(settings: Settings) -> None:
    rendered, _ = content(settings, plan("week-1"), "week-1", unsorted=2)
    said = [li.text_content() for e in section(page(rendered), "请关注") for li in e.xpath(".//li")]
    assert any("临猗县工科局已报送，但未能读取" in s for s in said)
    assert any("夏县工科局已连续 2 期未报送" in s for s in said)
    assert any("2 封疑似报送邮件" in s for s in said)
    # The first week has nothing to compare with, and its campaign total is the week itself.
    [table] = [e for e in section(page(rendered), "分项数据") if e.tag == "table"]
    assert [th.text_content() for th in table.xpath(".//tr[1]/th")] == ["项目", "本周"]


def test_the_final_digest_covers_the_whole_campaign(settings: Settings) -> None:
    sent = plan("summary")
    rendered, workbook = content(settings, sent, "summary")
    tree = page(rendered)
    assert "（全程）" in rendered.subject
    overview = [tr for e in section(tree, "各报送节点") for tr in e.xpath(".//tr[td]")]
    assert [tr.xpath("./td")[0].text.strip() for tr in overview] == [
        "联络员表及活动方案", "第1周进展", "第2周进展", "第3周进展", "第4周进展", "活动总结"
    ]
    weeks = [expected_figures(sent, f"week-{n}") for n in range(1, 5)]
    tiles = section(tree, "活动开展以来累计")[0].xpath(".//td[div]")
    people = int(tiles[1].xpath("./div")[1].text_content())
    assert people == sum_of([w[u].get(k) for w in weeks for u in UNITS for k in PEOPLE])
    sheets = openpyxl.load_workbook(io.BytesIO(workbook)).sheetnames
    assert sheets[:5] == ["第1周进展", "第2周进展", "第3周进展", "第4周进展", "累计"]


def test_the_setup_digest_has_no_figures(settings: Settings) -> None:
    rendered, _ = content(settings, plan("setup"), "setup")
    tree = page(rendered)
    assert not tree.xpath("//h2[normalize-space()='分项数据']")
    assert "未报：夏县工科局" in rendered.text


def test_nothing_is_wider_than_a_phone(settings: Settings) -> None:
    """Inline widths are relative or tiny: the layout column is at most 600 px and shrinks."""
    rendered, _ = content(settings, plan("week-2"), "week-2")
    for element in page(rendered).iter():
        style = element.get("style") or ""
        for rule in style.split(";"):
            name, _, value = rule.partition(":")
            if name.strip() in ("width", "min-width") and value.strip().endswith("px"):
                assert int(value.strip()[:-2]) <= 16, (element.tag, style)
    assert "max-width:600px" in rendered.html


# --- the mail -----------------------------------------------------------------------------------


def test_the_mail_is_automatic_with_the_workbook_attached(settings: Settings) -> None:
    rendered, workbook = content(settings, plan("week-2"), "week-2")
    campaign = settings.campaign_model()
    name = workbook_name(campaign.deadline("week-2"))
    assert name == "汇总表-第2周进展.xlsx"
    message = build_digest(rendered, workbook, name, "leader@example.gov.cn", Letterhead.from_settings(settings),
                           at("2023-06-14T14:00"))
    assert isinstance(message, EmailMessage)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["To"] == "leader@example.gov.cn"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == name
    assert attachment.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(attachment.get_content()))
    assert "第2周进展" in book.sheetnames
    body = message.get_body(("html",))
    assert body is not None and "第2周进展汇总" in body.get_content()
