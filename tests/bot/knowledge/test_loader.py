"""The knowledge loader: Markdown articles with YAML front matter, checked field by field.

Malformed articles are reported with file, line and reason and left out; the rest still loads.
Line numbers count from the file's first line (the opening '---' is line 1, so `id:` is line 2).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from bot.errors import DataProblem
from bot.knowledge.article import Media
from bot.knowledge.loader import LONG_BODY_CHARS, LoadResult, load_base
from tests.conftest import REPO

BODY = (
    "Orders placed before 16:00 ship the same day from Shenzhen. Standard delivery takes 2-4 days "
    "on the mainland; track the parcel under Me > Orders > Track."
)

# The valid article, one front-matter line per entry; entry i sits on file line i + 2.
VALID = [
    "id: service/shipping/fast-delivery.en",
    "title: Fast delivery",
    "category: service/shipping",
    "language: en",
    "translation_of: service/shipping/fast-delivery",
    "version: 3",
    "updated: 2026-11-01",
    "status: published",
    "questions:",
    "  - How fast do you ship?",
    "  - When will my parcel arrive?",
    "tags: [shipping, speed]",
    "media:",
    "  - type: image",
    "    url: /kb/media/delivery-timeline.svg",
    "    caption: Delivery timeline",
    "  - type: link",
    "    url: https://help.kite-electronics.example/track",
    "    caption: Track a parcel",
    "more: https://help.kite-electronics.example/shipping",
]

ZH_ORIGINAL = [
    "id: service/shipping/fast-delivery",
    "title: 发货时效",
    "category: service/shipping",
    "language: zh",
    "version: 1",
    "updated: 2026-11-01",
    "status: published",
]


def doc(lines: list[str], body: str = BODY) -> str:
    return "---\n" + "\n".join(lines) + "\n---\n" + body + "\n"


def without(lines: list[str], *keys: str) -> list[str]:
    """`lines` minus each named top-level field and the indented lines that belong to it."""
    out: list[str] = []
    dropping = False
    for line in lines:
        if not line.startswith(" "):
            dropping = any(line.startswith(f"{k}:") for k in keys)
        if not dropping:
            out.append(line)
    return out


def replaced(key: str, *new: str) -> list[str]:
    """VALID with field `key` (and its block) swapped for `new`, in the same place."""
    at = next(i for i, line in enumerate(VALID) if line.startswith(f"{key}:"))
    rest = without(VALID[at:], key)
    return VALID[:at] + list(new) + rest


def line_of(text: str, prefix: str) -> int:
    """1-based line number of the first line of `text` that starts with `prefix`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(prefix):
            return number
    raise AssertionError(f"no line starts with {prefix!r}")


def write(root: Path, rel: str, content: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def load_one_broken(tmp_path: Path, text: str | bytes) -> tuple[Path, DataProblem]:
    """Load a base holding only `text`; return its path and the single problem reported."""
    root = tmp_path / "knowledge"
    path = write(root, "en/service/shipping/fast-delivery.md", text)
    result = load_base(root)
    assert result.articles == []
    assert len(result.problems) == 1, result.problems
    return path, result.problems[0]


# --- a valid article ---------------------------------------------------------------------------


def test_valid_article_parses_into_every_field(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    path = write(root, "en/service/shipping/fast-delivery.md", doc(VALID))
    write(root, "zh/service/shipping/fast-delivery.md", doc(ZH_ORIGINAL, "当天发货。" * 20))

    result = load_base(root)

    assert result.problems == [] and result.warnings == []
    a = result.by_id()["service/shipping/fast-delivery.en"]
    assert a.id == "service/shipping/fast-delivery.en"
    assert a.title == "Fast delivery"
    assert a.category == "service/shipping"
    assert a.top_category == "service"
    assert a.language == "en"
    assert a.translation_of == "service/shipping/fast-delivery"
    assert a.version == 3
    assert a.updated == date(2026, 11, 1) and type(a.updated) is date
    assert a.status == "published"
    assert a.questions == ("How fast do you ship?", "When will my parcel arrive?")
    assert a.tags == ("shipping", "speed")
    assert a.media == (
        Media("image", "/kb/media/delivery-timeline.svg", "Delivery timeline"),
        Media("link", "https://help.kite-electronics.example/track", "Track a parcel"),
    )
    assert a.more == "https://help.kite-electronics.example/shipping"
    assert a.body == BODY
    assert a.path == str(path)


def test_optional_fields_default_to_empty(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    write(root, "zh/service/shipping/fast-delivery.md", doc(ZH_ORIGINAL, "当天发货。"))
    (a,) = load_base(root).articles
    assert (a.translation_of, a.questions, a.tags, a.media, a.more) == (None, (), (), (), None)


def test_readme_files_and_dot_folders_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    write(root, "en/service/shipping/fast-delivery.md", doc(VALID))
    write(root, "README.md", "# How to write articles\n")
    write(root, "en/service/readme.md", "Notes for editors.\n")
    write(root, ".drafts/half-done.md", "no front matter here\n")
    write(root, "en/.trash/service/old.md", doc(VALID))  # would be a duplicate id

    result = load_base(root)

    assert [a.id for a in result.articles] == ["service/shipping/fast-delivery.en"]
    assert result.problems == []


def test_a_base_stored_under_a_hidden_folder_still_loads(tmp_path: Path) -> None:
    root = tmp_path / ".deploy" / "knowledge"
    write(root, "en/service/shipping/fast-delivery.md", doc(VALID))
    assert [a.id for a in load_base(root).articles] == ["service/shipping/fast-delivery.en"]


def test_a_missing_folder_is_a_problem_not_an_empty_base(tmp_path: Path) -> None:
    result = load_base(tmp_path / "nowhere")
    assert result.articles == []
    assert [p.file for p in result.problems] == [str(tmp_path / "nowhere")]


# --- malformed articles: file, line, reason ----------------------------------------------------


def test_id_line_is_counted_from_the_files_first_line(tmp_path: Path) -> None:
    path, problem = load_one_broken(tmp_path, doc(replaced("id", "id: Service/Fast Delivery")))
    assert problem.file == str(path)
    assert problem.line == 2
    assert problem.reason.startswith("id:")


MALFORMED = [
    # (test id, front-matter lines, prefix of the line to blame, words the reason must contain)
    ("unknown-field", [*VALID[:5], "author: alice", *VALID[5:]], "author:", ["author", "unknown"]),
    ("missing-title", without(VALID, "title"), "id:", ["title", "missing"]),
    ("missing-version", without(VALID, "version"), "id:", ["version", "missing"]),
    ("bad-id", replaced("id", "id: Service/Fast Delivery"), "id:", ["id:"]),
    (
        "unknown-top-category",
        replaced("category", "category: shop/shipping"),
        "category:",
        ["category:", "'shop'", "product", "service", "after-sales"],
    ),
    (
        "category-4-levels-below-top",
        replaced("category", "category: product/phone/settings/bluetooth/pairing"),
        "category:",
        ["category:", "4 levels", "at most 3"],
    ),
    ("bad-language", replaced("language", "language: fr"), "language:", ["language:", "'fr'"]),
    ("version-zero", replaced("version", "version: 0"), "version:", ["version:", "0"]),
    ("version-word", replaced("version", "version: one"), "version:", ["version:", "'one'"]),
    ("version-bool", replaced("version", "version: true"), "version:", ["version:", "True"]),
    ("updated-word", replaced("updated", "updated: soon"), "updated:", ["updated:", "ISO date"]),
    (
        "updated-number",
        replaced("updated", "updated: 20261101"),
        "updated:",
        ["updated:", "ISO date"],
    ),
    (
        "updated-quoted-impossible-date",
        replaced("updated", "updated: '2026-13-01'"),
        "updated:",
        ["updated:", "ISO date"],
    ),
    ("unknown-status", replaced("status", "status: live"), "status:", ["status:", "'live'"]),
    (
        "media-bad-type",
        replaced("media", "media:", "  - type: gif", "    url: /kb/media/a.gif"),
        "media:",
        ["media:", "'gif'", "image", "video", "link"],
    ),
    (
        "media-missing-url",
        replaced("media", "media:", "  - type: video", "    caption: How to pair"),
        "media:",
        ["media:", "url is missing"],
    ),
    (
        "translation-of-itself",
        replaced("translation_of", "translation_of: service/shipping/fast-delivery.en"),
        "translation_of:",
        ["translation_of:", "itself"],
    ),
]


@pytest.mark.parametrize(
    ("lines", "blamed", "words"),
    [pytest.param(lines, blamed, words, id=name) for name, lines, blamed, words in MALFORMED],
)
def test_malformed_field_is_reported_with_file_line_and_reason(
    tmp_path: Path, lines: list[str], blamed: str, words: list[str]
) -> None:
    text = doc(lines)
    path, problem = load_one_broken(tmp_path, text)
    assert problem.file == str(path)
    assert problem.line == line_of(text, blamed)
    for word in words:
        assert word in problem.reason, problem.reason


def test_missing_required_field_is_blamed_on_the_front_matter_start(tmp_path: Path) -> None:
    # A field that is absent has no line of its own; line 2 is where the front matter starts.
    _, problem = load_one_broken(tmp_path, doc(without(VALID, "status")))
    assert problem.line == 2
    assert problem.reason == "status: required field is missing"


def test_missing_opening_dashes_is_reported_on_line_1(tmp_path: Path) -> None:
    text = doc(VALID).removeprefix("---\n")
    path, problem = load_one_broken(tmp_path, text)
    assert (problem.file, problem.line) == (str(path), 1)
    assert "'---'" in problem.reason


def test_unclosed_front_matter_is_reported_on_line_1(tmp_path: Path) -> None:
    text = "---\n" + "\n".join(VALID) + "\n" + BODY + "\n"
    path, problem = load_one_broken(tmp_path, text)
    assert (problem.file, problem.line) == (str(path), 1)
    assert "not closed" in problem.reason


def test_invalid_yaml_is_reported_on_the_line_where_it_breaks(tmp_path: Path) -> None:
    text = doc(replaced("tags", "tags: [shipping, speed"))
    path, problem = load_one_broken(tmp_path, text)
    assert problem.file == str(path)
    # the unclosed flow list is detected when the parser reaches the next key
    assert problem.line == line_of(text, "media:")
    assert problem.reason.startswith("invalid YAML in front matter")


def test_invalid_yaml_line_is_the_offending_line_not_the_first(tmp_path: Path) -> None:
    text = doc(replaced("title", "title: Fast: delivery"))
    _, problem = load_one_broken(tmp_path, text)
    assert problem.line == line_of(text, "title:") == 3
    assert "invalid YAML" in problem.reason


def test_unquoted_impossible_date_is_reported_on_the_updated_line(tmp_path: Path) -> None:
    text = doc(replaced("updated", "updated: 2026-13-01"))
    _, problem = load_one_broken(tmp_path, text)
    assert problem.line == line_of(text, "updated:")
    assert problem.reason.startswith("updated:")


def test_empty_body_is_reported_on_the_line_after_the_front_matter(tmp_path: Path) -> None:
    text = doc(VALID, body="   \n\n")
    path, problem = load_one_broken(tmp_path, text)
    assert problem.file == str(path)
    assert problem.line == len(VALID) + 3  # '---', the fields, '---', then the body
    assert "body is empty" in problem.reason


def test_non_utf8_file_is_reported_not_raised(tmp_path: Path) -> None:
    raw = doc(VALID).encode("utf-8").replace(b"Fast delivery", b"Fast \xff delivery")
    path, problem = load_one_broken(tmp_path, raw)
    assert problem.file == str(path)
    assert "UTF-8" in problem.reason


# --- the base as a whole -----------------------------------------------------------------------


def test_duplicate_id_keeps_the_first_file_and_reports_the_second(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    first = write(root, "en/service/shipping/a-fast.md", doc(VALID))
    second = write(root, "en/service/shipping/b-fast.md", doc(replaced("title", "title: Copy")))

    result = load_base(root)

    assert [(a.path, a.title) for a in result.articles] == [(str(first), "Fast delivery")]
    (problem,) = result.problems
    assert (problem.file, problem.line) == (str(second), 2)
    assert "duplicate id 'service/shipping/fast-delivery.en'" in problem.reason
    assert str(first) in problem.reason


def test_duplicate_id_is_blamed_on_the_id_line(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    write(root, "en/service/shipping/a-fast.md", doc(VALID))
    reordered = [VALID[1], VALID[2], VALID[0], *VALID[3:]]  # id: on line 4
    write(root, "en/service/shipping/b-fast.md", doc(reordered))
    (problem,) = load_base(root).problems
    assert problem.line == 4


def test_one_broken_file_does_not_stop_the_rest_of_the_base(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    shipped = sorted((REPO / "knowledge" / "en" / "service").rglob("*.md"))[:5]
    for src in shipped:
        write(root, str(src.relative_to(REPO / "knowledge")), src.read_text("utf-8"))
    broken = write(root, "en/service/aaa-broken.md", doc(replaced("language", "language: fr")))

    result = load_base(root)

    assert [p.file for p in result.problems] == [str(broken)]
    assert len(result.articles) == len(shipped) == 5


def test_an_impossible_date_in_one_file_does_not_stop_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    write(root, "en/service/shipping/fast-delivery.md", doc(VALID))
    write(root, "en/service/aaa.md", doc(replaced("updated", "updated: 2026-02-30")))
    result = load_base(root)
    assert len(result.articles) == 1 and len(result.problems) == 1


def test_translation_of_a_missing_article_is_a_warning_not_an_error(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    path = write(root, "en/service/shipping/fast-delivery.md", doc(VALID))  # zh original absent

    result = load_base(root)

    assert result.problems == []
    assert [a.id for a in result.articles] == ["service/shipping/fast-delivery.en"]
    (warning,) = result.warnings
    assert warning.file == str(path)
    assert "translation_of 'service/shipping/fast-delivery'" in warning.reason


def test_a_body_over_1200_characters_is_a_warning_and_still_loads(tmp_path: Path) -> None:
    assert LONG_BODY_CHARS == 1200
    root = tmp_path / "knowledge"
    write(root, "zh/service/shipping/fast-delivery.md", doc(ZH_ORIGINAL, "字" * 1200))
    long_path = write(
        root,
        "zh/service/shipping/long.md",
        doc([line.replace("fast-delivery", "long") for line in ZH_ORIGINAL], "字" * 1201),
    )

    result = load_base(root)

    assert result.problems == []
    assert len(result.articles) == 2
    (warning,) = result.warnings  # 1,200 exactly is fine
    assert warning.file == str(long_path)
    assert "1201 characters" in warning.reason


# --- the shipped base --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> LoadResult:
    return load_base(REPO / "knowledge")


def test_shipped_base_loads_without_problems_or_warnings(shipped: LoadResult) -> None:
    assert [str(p) for p in shipped.problems] == []
    assert [str(w) for w in shipped.warnings] == []


def test_shipped_base_has_40_published_articles_per_language(shipped: LoadResult) -> None:
    published = Counter(a.language for a in shipped.articles if a.status == "published")
    assert published["zh"] >= 40, published
    assert published["en"] >= 40, published


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize(
    "family",
    [
        "service/shipping/",
        "service/payment/",
        "service/account/",
        "after-sales/returns/",
        "after-sales/refunds/",
        "product/",
    ],
)
def test_shipped_base_covers_every_question_topic_family(
    shipped: LoadResult, family: str, language: str
) -> None:
    ids = [
        a.id
        for a in shipped.articles
        if a.language == language and a.status == "published" and a.id.startswith(family)
    ]
    assert ids, f"no published {language} article under {family}"
