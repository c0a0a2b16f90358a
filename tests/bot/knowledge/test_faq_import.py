"""`relaydesk kb import`: an FAQ spreadsheet (CSV) becomes articles the loader accepts."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from bot.knowledge.faq_import import import_csv
from bot.knowledge.loader import load_base
from tests.conftest import REPO

HEADER = ["question", "answer", "category", "language"]

FREE_EN = "Orders over 99 yuan ship free on the mainland; smaller orders pay 8 yuan."
FREE_ZH = "订单满 99 元包邮，不满 99 元收取 8 元运费。"
RESET_EN = "Go to Me > Settings > Account > Reset password and follow the SMS code."

ROWS = [
    ["Is shipping free?", FREE_EN, "service/shipping", "en"],
    ["Do I pay for delivery?", FREE_EN, "service/shipping", "en"],
    ["How much is postage", FREE_EN, "Service/Shipping/", "EN"],
    ["包邮吗", FREE_ZH, "service/shipping", "zh"],
    ["运费多少钱", FREE_ZH, "service/shipping", "zh"],
    ["I forgot my password", RESET_EN, "service/account", "en"],
]


def write_csv(
    path: Path, rows: list[list[str]], header: list[str] = HEADER, bom: bool = False
) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_rows_with_the_same_answer_category_and_language_merge(tmp_path: Path) -> None:
    report = import_csv(write_csv(tmp_path / "faq.csv", ROWS), tmp_path / "kb")

    assert report.problems == []
    assert report.rows == 6
    by_body = {a.body: a for a in report.articles}
    assert len(report.articles) == 3
    free_en = by_body[FREE_EN]
    assert free_en.questions == (
        "Is shipping free?",
        "Do I pay for delivery?",
        "How much is postage",
    )
    assert (free_en.category, free_en.language) == ("service/shipping", "en")
    assert free_en.title == "Is shipping free?"
    assert by_body[RESET_EN].questions == ("I forgot my password",)


def test_chinese_and_english_rows_become_articles_in_their_own_folders(tmp_path: Path) -> None:
    out = tmp_path / "kb"
    report = import_csv(write_csv(tmp_path / "faq.csv", ROWS), out)

    by_body = {a.body: a for a in report.articles}
    zh = by_body[FREE_ZH]
    assert zh.language == "zh"
    assert zh.questions == ("包邮吗", "运费多少钱")
    assert zh.title == "包邮吗"
    assert Path(zh.path).is_relative_to(out / "zh" / "service" / "shipping")
    assert Path(by_body[FREE_EN].path).is_relative_to(out / "en" / "service" / "shipping")
    assert "包邮吗" in Path(zh.path).read_text("utf-8")


def test_repeated_question_in_a_group_is_kept_once(tmp_path: Path) -> None:
    rows = [ROWS[0], ROWS[0], ROWS[1]]
    (article,) = import_csv(write_csv(tmp_path / "faq.csv", rows), tmp_path / "kb").articles
    assert article.questions == ("Is shipping free?", "Do I pay for delivery?")


def test_a_utf8_bom_before_the_header_is_ignored(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "faq.csv", ROWS, bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfquestion,")
    report = import_csv(path, tmp_path / "kb")
    assert report.problems == []
    assert len(report.articles) == 3


def test_header_names_are_matched_case_and_space_insensitively(tmp_path: Path) -> None:
    header = [" Question", "ANSWER ", "Category", "language"]
    report = import_csv(write_csv(tmp_path / "faq.csv", ROWS, header=header), tmp_path / "kb")
    assert report.problems == [] and len(report.articles) == 3


def test_a_missing_column_is_reported_on_line_1_by_name(tmp_path: Path) -> None:
    header = ["question", "answer", "language"]
    path = write_csv(tmp_path / "faq.csv", [r[:2] + r[3:] for r in ROWS], header=header)

    report = import_csv(path, tmp_path / "kb")

    assert report.articles == []
    (problem,) = report.problems
    assert (problem.file, problem.line) == (str(path), 1)
    assert problem.reason.startswith("missing column(s) category;")
    assert not (tmp_path / "kb").exists()


def test_an_empty_answer_is_reported_on_its_line_and_other_rows_still_import(
    tmp_path: Path,
) -> None:
    rows = [*ROWS[:3], ["Can I pay later?", "", "service/payment", "en"], *ROWS[3:]]
    path = write_csv(tmp_path / "faq.csv", rows)

    report = import_csv(path, tmp_path / "kb")

    (problem,) = report.problems
    assert (problem.file, problem.line) == (str(path), 5)  # header is line 1, row 4 is line 5
    assert problem.reason == "empty answer"
    assert report.rows == 7
    assert sorted(a.body for a in report.articles) == sorted([FREE_EN, FREE_ZH, RESET_EN])


def test_a_bad_category_is_reported_on_the_line_of_its_first_row(tmp_path: Path) -> None:
    rows = [ROWS[0], ["Where is my parcel?", "Track it under Me > Orders.", "shop/orders", "en"]]
    path = write_csv(tmp_path / "faq.csv", rows)

    report = import_csv(path, tmp_path / "kb")

    (problem,) = report.problems
    assert (problem.file, problem.line) == (str(path), 3)
    assert problem.reason.startswith("category:") and "'shop'" in problem.reason
    assert [a.body for a in report.articles] == [FREE_EN]
    assert len(list((tmp_path / "kb").rglob("*.md"))) == 1


def test_imported_files_load_back_without_problems(tmp_path: Path) -> None:
    out = tmp_path / "kb"
    report = import_csv(write_csv(tmp_path / "faq.csv", ROWS), out)

    loaded = load_base(out)

    assert loaded.problems == [] and loaded.warnings == []
    assert {a.id: a for a in loaded.articles} == {a.id: a for a in report.articles}
    assert all(a.status == "published" and a.version == 1 for a in loaded.articles)
    assert all("imported" in a.tags for a in loaded.articles)


def test_status_draft_writes_drafts(tmp_path: Path) -> None:
    out = tmp_path / "kb"
    import_csv(write_csv(tmp_path / "faq.csv", ROWS), out, status="draft")
    loaded = load_base(out)
    assert len(loaded.articles) == 3
    assert {a.status for a in loaded.articles} == {"draft"}
    assert all("status: draft" in Path(a.path).read_text("utf-8") for a in loaded.articles)


def test_ids_stay_unique_when_two_titles_slug_the_same(tmp_path: Path) -> None:
    rows = [
        ["Where is my order?", "Track it under Me > Orders.", "service/orders", "en"],
        ["where is my ORDER", "Orders ship within 48 hours.", "service/orders", "en"],
        ["Where is my order!", "Call 400-800-1234 for help.", "service/orders", "en"],
    ]
    out = tmp_path / "kb"

    report = import_csv(write_csv(tmp_path / "faq.csv", rows), out)

    assert report.problems == []
    ids = [a.id for a in report.articles]
    assert len(set(ids)) == 3, ids
    assert all(i.startswith("service/orders/where-is-my-order") for i in ids), ids
    assert len(list(out.rglob("*.md"))) == 3  # none overwrote another
    loaded = load_base(out)
    assert loaded.problems == [] and len(loaded.articles) == 3


def test_title_id_and_tags_columns_are_used_when_given(tmp_path: Path) -> None:
    header = [*HEADER, "title", "id", "tags"]
    rows = [
        [
            "包邮吗",
            FREE_ZH,
            "service/shipping",
            "zh",
            "包邮规则",
            "service/shipping/free",
            "运费, 包邮",
        ]
    ]
    (article,) = import_csv(
        write_csv(tmp_path / "faq.csv", rows, header=header), tmp_path / "kb"
    ).articles
    assert (article.id, article.title) == ("service/shipping/free", "包邮规则")
    assert article.tags == ("运费", "包邮", "imported")


def test_line_numbers_count_physical_lines_after_a_multiline_answer(tmp_path: Path) -> None:
    rows = [
        ["Is shipping free?", "Yes, over 99 yuan.\nOtherwise 8 yuan.", "service/shipping", "en"],
        ["Can I pay later?", "", "service/payment", "en"],
    ]
    path = write_csv(tmp_path / "faq.csv", rows)
    assert path.read_text("utf-8").splitlines()[3].startswith("Can I pay later?")
    (problem,) = import_csv(path, tmp_path / "kb").problems
    assert problem.line == 4


def test_importing_into_an_existing_base_keeps_every_existing_article(tmp_path: Path) -> None:
    base = shutil.copytree(REPO / "knowledge", tmp_path / "knowledge")
    before = load_base(base)
    rows = [["Can I return it in 7 days?", "Yes, if unused.", "after-sales/returns", "en"]]
    header = [*HEADER, "title"]
    path = write_csv(tmp_path / "faq.csv", [[*rows[0], "Seven day"]], header=header)

    import_csv(path, base)

    after = load_base(base)
    assert after.problems == []
    assert set(before.by_id()) < set(after.by_id())
    assert (
        after.by_id()["after-sales/returns/seven-day.en"]
        == before.by_id()["after-sales/returns/seven-day.en"]
    )
