"""Rasa 3.x NLU YAML: what is read from valid files, and how each kind of bad input is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import DataProblem, TrainingDataError
from bot.nlu import rasa_format
from bot.nlu.types import EntitySpan, TrainingData, TrainingExample


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line of `text` that contains `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def problems_of(text: str, filename: str = "nlu.yml", **kw: bool) -> list[DataProblem]:
    with pytest.raises(TrainingDataError) as info:
        rasa_format.parse(text, filename, **kw)
    return info.value.problems


def only_problem(text: str, filename: str = "nlu.yml") -> DataProblem:
    problems = problems_of(text, filename)
    assert len(problems) == 1, problems
    return problems[0]


def by_text(data: TrainingData) -> dict[str, TrainingExample]:
    return {ex.text: ex for ex in data.examples}


def spans(ex: TrainingExample) -> list[tuple[str, str, str, str | None, str | None]]:
    """Each entity as (covered text, entity, value, role, group)."""
    return [(ex.text[e.start : e.end], e.entity, e.value, e.role, e.group) for e in ex.entities]


# --- a valid Rasa 3.1 file -------------------------------------------------------------------

FULL = """\
version: "3.1"
nlu:
- intent: order_status
  examples: |
    - where is my order
    - where is order [202611180042](order_id) now
    - ship it to [Berlin]{"entity": "city", "value": "Berlin, DE"} please
    - my [kite x5](product:Kite X5) broke
    - fly to [Paris][{"entity": "city"}, {"entity": "location", "role": "destination"}]
- synonym: Kite X5 Pro
  examples: |
    - x5 pro
    - X5-Pro
- regex: ticket_id
  examples: |
    - T-\\d{3,8}
- lookup: product
  examples: |
    - Kite X5
    - Kite X5 Pro
"""


@pytest.fixture
def full() -> TrainingData:
    return rasa_format.parse(FULL, "data/nlu.yml")


def test_intent_examples_are_read_as_plain_text_under_their_intent(full: TrainingData) -> None:
    assert full.intents == ["order_status"]
    assert [ex.text for ex in full.examples] == [
        "where is my order",
        "where is order 202611180042 now",
        "ship it to Berlin please",
        "my kite x5 broke",
        "fly to Paris",
    ]


def test_each_example_source_is_file_and_line_of_that_example(full: TrainingData) -> None:
    needles = ["my order", "[202611180042]", "[Berlin]", "[kite x5]", "[Paris]"]
    assert [ex.source for ex in full.examples] == [
        f"data/nlu.yml:{line_of(FULL, n)}" for n in needles
    ]
    assert full.examples[0].source == "data/nlu.yml:5"


def test_round_bracket_annotation_marks_span_with_entity_and_its_own_text_as_value(
    full: TrainingData,
) -> None:
    ex = by_text(full)["where is order 202611180042 now"]
    assert ex.entities == (EntitySpan("order_id", "202611180042", 15, 27, extractor="annotation"),)
    assert ex.text[15:27] == "202611180042"


def test_json_annotation_value_differs_from_text_and_becomes_a_synonym(
    full: TrainingData,
) -> None:
    ex = by_text(full)["ship it to Berlin please"]
    assert spans(ex) == [("Berlin", "city", "Berlin, DE", None, None)]
    assert full.synonyms["berlin"] == "Berlin, DE"


def test_legacy_entity_colon_value_annotation_gives_value_and_synonym(full: TrainingData) -> None:
    ex = by_text(full)["my kite x5 broke"]
    assert spans(ex) == [("kite x5", "product", "Kite X5", None, None)]
    assert full.synonyms["kite x5"] == "Kite X5"


def test_list_annotation_puts_several_entities_on_the_same_span(full: TrainingData) -> None:
    ex = by_text(full)["fly to Paris"]
    assert spans(ex) == [
        ("Paris", "city", "Paris", None, None),
        ("Paris", "location", "Paris", "destination", None),
    ]
    assert "paris" not in full.synonyms  # value equals the text: no synonym


def test_roles_and_groups_are_kept_and_offsets_of_second_entity_follow_the_first() -> None:
    data = rasa_format.parse(
        "nlu:\n- intent: fly\n  examples: |\n"
        '    - from [Rome]{"entity": "city", "role": "origin", "group": "1"}'
        ' to [Oslo]{"entity": "city", "role": "destination", "group": "1"}\n'
    )
    [ex] = data.examples
    assert ex.text == "from Rome to Oslo"
    assert spans(ex) == [
        ("Rome", "city", "Rome", "origin", "1"),
        ("Oslo", "city", "Oslo", "destination", "1"),
    ]
    assert [(e.start, e.end) for e in ex.entities] == [(5, 9), (13, 17)]


def test_synonym_items_map_each_casefolded_variant_to_the_canonical_value(
    full: TrainingData,
) -> None:
    assert full.synonyms["x5 pro"] == "Kite X5 Pro"
    assert full.synonyms["x5-pro"] == "Kite X5 Pro"
    assert "X5-Pro" not in full.synonyms


def test_regex_items_keep_pattern_and_line(full: TrainingData) -> None:
    assert [(r.name, r.pattern) for r in full.regexes] == [("ticket_id", r"T-\d{3,8}")]
    assert full.regexes[0].source == f"data/nlu.yml:{line_of(FULL, 'T-')}"


def test_lookup_items_collect_their_entries(full: TrainingData) -> None:
    assert full.lookups == {"product": ["Kite X5", "Kite X5 Pro"]}


def test_blank_lines_inside_an_examples_block_do_not_shift_line_numbers() -> None:
    text = "nlu:\n- intent: a\n  examples: |\n\n    - one\n\n    - two\n"
    data = rasa_format.parse(text, "f.yml")
    assert [ex.source for ex in data.examples] == ["f.yml:5", "f.yml:7"]


# --- Rasa's extended example form and metadata -------------------------------------------------

EXTENDED = """\
version: "3.1"
nlu:
- intent: complain
  metadata:
    sentiment: negative
  examples:
  - text: |
      my [Kite X5](product) is broken again
    metadata:
      urgency: high
  - text: |
      this is the third time
  - plain string example
"""


def test_extended_form_reads_text_of_each_mapping_with_its_line_and_annotations() -> None:
    data = rasa_format.parse(EXTENDED, "ext.yml")
    assert [ex.text for ex in data.examples] == [
        "my Kite X5 is broken again",
        "this is the third time",
        "plain string example",
    ]
    assert all(ex.intent == "complain" for ex in data.examples)
    assert spans(data.examples[0]) == [("Kite X5", "product", "Kite X5", None, None)]
    assert [ex.source for ex in data.examples] == [
        f"ext.yml:{line_of(EXTENDED, 'text: |')}",
        f"ext.yml:{line_of(EXTENDED, 'text: |') + 4}",
        f"ext.yml:{line_of(EXTENDED, 'plain string')}",
    ]


def test_extended_example_without_text_key_is_reported_at_its_line() -> None:
    text = "nlu:\n- intent: a\n  examples:\n  - txt: hello\n"
    problem = only_problem(text)
    assert (problem.file, problem.line) == ("nlu.yml", 4)
    assert "'text'" in problem.reason


# --- files as Rasa projects write them ---------------------------------------------------------

MIXED = """\
version: "3.1"

nlu:
- intent: greet
  examples: |
    - hey
    - hello

stories:
- story: happy path
  steps:
  - intent: greet
  - action: utter_greet

rules:
- rule: say goodbye
  steps:
  - intent: goodbye
  - action: utter_goodbye

responses:
  utter_greet:
  - text: "Hey! How can I [help](you)?"
"""

DOMAIN = """\
version: "3.1"
intents:
  - greet
  - goodbye
entities:
  - product
slots:
  product:
    type: text
    mappings:
    - type: from_entity
      entity: product
responses:
  utter_greet:
  - text: "Hey!"
actions:
  - action_check_order
session_config:
  session_expiration_time: 60
"""


def test_stories_rules_and_responses_beside_nlu_are_skipped_not_reported() -> None:
    data = rasa_format.parse(MIXED, "data/mixed.yml")
    assert [(ex.text, ex.intent) for ex in data.examples] == [("hey", "greet"), ("hello", "greet")]
    assert data.examples[0].source == f"data/mixed.yml:{line_of(MIXED, '- hey')}"


def test_folder_loads_nested_subfolders_and_skips_domain_only_files(tmp_path: Path) -> None:
    (tmp_path / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    (tmp_path / "mixed.yml").write_text(MIXED, encoding="utf-8")
    deep = tmp_path / "faq" / "billing"
    deep.mkdir(parents=True)
    (deep / "refunds.yaml").write_text(
        "nlu:\n- intent: refund\n  examples: |\n    - I want my money back\n", encoding="utf-8"
    )
    (tmp_path / "notes.txt").write_text("- intent: not yaml data\n", encoding="utf-8")

    data = rasa_format.load(tmp_path)

    assert data.intents == ["greet", "refund"]
    assert by_text(data)["I want my money back"].source == f"{deep / 'refunds.yaml'}:4"
    assert sorted(data.files) == sorted(
        str(p) for p in (tmp_path / "domain.yml", tmp_path / "mixed.yml", deep / "refunds.yaml")
    )
    assert data.warnings == []


def test_folder_with_only_non_nlu_files_reports_no_examples(tmp_path: Path) -> None:
    (tmp_path / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    with pytest.raises(TrainingDataError) as info:
        rasa_format.load(tmp_path)
    assert [p.reason for p in info.value.problems] == ["no NLU examples found"]


# --- malformed input: file, line and reason -----------------------------------------------------


def test_invalid_yaml_syntax_is_reported_at_the_line_of_the_error() -> None:
    text = 'nlu:\n- intent: greet\n  examples: "hi\n'
    problem = only_problem(text)
    assert problem.file == "nlu.yml"
    assert problem.line == 4  # the unterminated string runs to the end of the stream
    assert "invalid YAML" in problem.reason

    text = "nlu:\n- intent: a\n  examples: |\n    - hi\n- intent: [b\n"
    problem = only_problem(text)
    assert problem.line == 6
    assert "invalid YAML" in problem.reason


def test_top_level_list_is_reported_as_not_a_mapping() -> None:
    problem = only_problem("- intent: greet\n  examples: |\n    - hi\n")
    assert (problem.file, problem.line) == ("nlu.yml", 1)
    assert "top level must be a mapping" in problem.reason


def test_unknown_top_level_key_is_reported_at_its_line() -> None:
    text = 'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - hi\nnlux:\n- intent: b\n'
    problem = only_problem(text)
    assert problem.line == 6
    assert "unknown top-level key 'nlux'" in problem.reason


@pytest.mark.parametrize("version", ['"4.0"', "4.0", '"3"', "'1.0'"])
def test_unsupported_version_is_reported_with_supported_ones(version: str) -> None:
    text = f"# header\nversion: {version}\nnlu:\n- intent: a\n  examples: |\n    - hi\n"
    problem = only_problem(text)
    assert problem.line == 2
    assert "unsupported version" in problem.reason
    assert "3.1" in problem.reason


@pytest.mark.parametrize("version", ['"2.0"', '"3.0"', '"3.1"'])
def test_supported_quoted_versions_are_accepted(version: str) -> None:
    data = rasa_format.parse(f"version: {version}\nnlu:\n- intent: a\n  examples: |\n    - hi\n")
    assert [ex.text for ex in data.examples] == ["hi"]


def test_unquoted_version_parsed_as_float_is_reported() -> None:
    problem = only_problem("version: 3.1\nnlu:\n- intent: a\n  examples: |\n    - hi\n")
    assert problem.line == 1
    assert "quote it" in problem.reason


@pytest.mark.parametrize(
    ("item", "found"),
    [
        ("- intent: a\n  synonym: b\n  examples: |\n    - x\n", "found: intent, synonym"),
        ("- metadata: {}\n  examples: |\n    - x\n", "found: none"),
    ],
)
def test_item_with_two_kinds_or_none_is_reported(item: str, found: str) -> None:
    text = "nlu:\n- intent: ok\n  examples: |\n    - fine\n" + item
    problem = only_problem(text)
    assert problem.line == 5
    assert "exactly one of intent, synonym, regex, lookup" in problem.reason
    assert found in problem.reason


def test_unknown_key_in_an_item_is_named() -> None:
    problem = only_problem("nlu:\n- intent: a\n  exmaples: |\n    - hi\n")
    assert problem.line == 2
    assert "exmaples" in problem.reason
    assert "allowed: examples, metadata" in problem.reason


def test_item_without_examples_is_reported_with_its_name() -> None:
    problem = only_problem("nlu:\n- intent: a\n  examples: |\n    - hi\n- intent: lonely\n")
    assert problem.line == 5
    assert "'lonely' has no 'examples'" in problem.reason


def test_examples_not_written_as_a_block_of_dash_lines_is_reported() -> None:
    problem = only_problem("nlu:\n- intent: a\n  examples: hello there\n")
    assert problem.line == 3
    assert "starting with '- '" in problem.reason


def test_example_line_not_starting_with_dash_is_reported_at_that_line() -> None:
    text = "nlu:\n- intent: a\n  examples: |\n    - hi\n    hello\n    - bye\n"
    problem = only_problem(text)
    assert problem.line == 5
    assert "must start with '- '" in problem.reason
    assert "'hello'" in problem.reason


def test_empty_example_is_reported_at_its_line() -> None:
    text = "nlu:\n- intent: a\n  examples: |\n    - hi\n    - \n    - bye\n"
    problem = only_problem(text)
    assert problem.line == 5
    assert problem.reason == "example is empty"


def test_example_that_is_only_an_empty_annotation_is_reported_empty() -> None:
    # The annotation is valid but leaves no plain text behind.
    text = "nlu:\n- intent: a\n  examples: |\n    - hi\n    - [ ](space)\n"
    problem = only_problem(text)
    assert problem.line == 5
    assert problem.reason == "example is empty"


def test_annotation_with_invalid_json_is_reported_at_its_line() -> None:
    text = 'nlu:\n- intent: a\n  examples: |\n    - ok\n    - to [x]{"entity": city}\n'
    problem = only_problem(text)
    assert problem.line == 5
    assert "not valid JSON" in problem.reason
    assert '[x]{"entity": city}' in problem.reason


def test_annotation_naming_no_entity_is_reported() -> None:
    text = (
        "nlu:\n- intent: a\n  examples: |\n"
        '    - to [x]{"value": "c"}\n'
        '    - to [y][{"role": "r"}]\n'
    )
    problems = problems_of(text)
    assert [(p.line, "names no entity" in p.reason) for p in problems] == [(4, True), (5, True)]


def test_annotation_with_missing_parenthesis_is_reported_malformed() -> None:
    problem = only_problem("nlu:\n- intent: a\n  examples: |\n    - see [T-1002](ticket_id\n")
    assert problem.line == 4
    assert "malformed entity annotation" in problem.reason


def test_annotation_with_missing_closing_bracket_is_reported_malformed() -> None:
    problem = only_problem("nlu:\n- intent: a\n  examples: |\n    - see [T-1002(ticket_id)\n")
    assert problem.line == 4
    assert "malformed entity annotation" in problem.reason


def test_invalid_regex_is_reported_with_its_name_and_line() -> None:
    text = "nlu:\n- regex: ticket_id\n  examples: |\n    - T-\\d+\n    - T-(\\d+\n"
    problem = only_problem(text)
    assert problem.line == 5
    assert "regex 'ticket_id' is invalid" in problem.reason


@pytest.mark.parametrize("content", ["", "# only a comment\n"])
def test_empty_file_is_reported(tmp_path: Path, content: str) -> None:
    path = tmp_path / "nlu.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TrainingDataError) as info:
        rasa_format.load(path)
    [problem] = info.value.problems
    assert problem.file == str(path)
    assert problem.reason == "file is empty"


def test_file_given_directly_without_nlu_section_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "domain.yml"
    path.write_text(DOMAIN, encoding="utf-8")
    with pytest.raises(TrainingDataError) as info:
        rasa_format.load(path)
    [problem] = info.value.problems
    assert (problem.file, problem.line) == (str(path), 1)
    assert "no 'nlu' section" in problem.reason


def test_non_utf8_file_is_reported_as_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "nlu.yml"
    path.write_bytes("nlu:\n- intent: a\n  examples: |\n    - caf\u00e9\n".encode("latin-1"))
    with pytest.raises(TrainingDataError) as info:
        rasa_format.load(path)
    [problem] = info.value.problems
    assert problem.file == str(path)
    assert "not UTF-8" in problem.reason


def test_missing_path_is_reported() -> None:
    with pytest.raises(TrainingDataError, match="no such file or folder"):
        rasa_format.load("/nonexistent/relaydesk/nlu.yml")


def test_folder_with_one_broken_file_reports_every_problem_of_that_file(tmp_path: Path) -> None:
    (tmp_path / "a_good.yml").write_text(
        "nlu:\n- intent: greet\n  examples: |\n    - hi\n", encoding="utf-8"
    )
    broken = tmp_path / "b_broken.yml"
    broken.write_text(
        "nlu:\n"
        "- intent: order\n"
        "  examples: |\n"
        "    - where is it\n"
        "    -\n"  # line 5: empty example
        "- intent: bye\n"
        "  exmaples: |\n"  # item at line 6: unknown key
        "    - bye\n"
        "- regex: r\n"
        "  examples: |\n"
        "    - a(b\n",  # line 11: invalid regex
        encoding="utf-8",
    )

    with pytest.raises(TrainingDataError) as info:
        rasa_format.load(tmp_path)

    problems = info.value.problems
    assert [(p.file, p.line) for p in problems] == [
        (str(broken), 5),
        (str(broken), 6),
        (str(broken), 11),
    ]
    assert str(broken) in str(info.value)
    assert "a_good.yml" not in str(info.value)


def test_problems_of_several_broken_files_in_a_folder_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "one.yml").write_text("nlu:\n- intent: a\n", encoding="utf-8")
    (tmp_path / "two.yml").write_text("- not a mapping\n", encoding="utf-8")
    with pytest.raises(TrainingDataError) as info:
        rasa_format.load(tmp_path)
    assert [Path(p.file).name for p in info.value.problems] == ["one.yml", "two.yml"]


# --- conflicts ----------------------------------------------------------------------------------


def test_same_text_under_two_intents_warns_naming_both_intents_and_sources(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nlu.yml"
    path.write_text(
        "nlu:\n"
        "- intent: cancel_order\n"
        "  examples: |\n"
        "    - stop my order\n"
        "- intent: pause_order\n"
        "  examples: |\n"
        "    - hold it\n"
        "    - Stop my order\n",
        encoding="utf-8",
    )
    data = rasa_format.load(path)

    assert len(data.examples) == 3  # both kept
    [warning] = data.warnings
    assert "cancel_order" in warning and "pause_order" in warning
    assert f"{path}:4" in warning and f"{path}:8" in warning


def test_same_text_under_the_same_intent_does_not_warn(tmp_path: Path) -> None:
    path = tmp_path / "nlu.yml"
    path.write_text("nlu:\n- intent: a\n  examples: |\n    - hi\n    - HI\n", encoding="utf-8")
    assert rasa_format.load(path).warnings == []


def test_conflict_across_files_of_a_folder_is_warned(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(
        "nlu:\n- intent: greet\n  examples: |\n    - hello\n", encoding="utf-8"
    )
    (tmp_path / "b.yml").write_text(
        "nlu:\n- intent: goodbye\n  examples: |\n    - bye\n    - hello\n", encoding="utf-8"
    )
    [warning] = rasa_format.load(tmp_path).warnings
    assert f"{tmp_path / 'a.yml'}:4" in warning and f"{tmp_path / 'b.yml'}:5" in warning
    assert "greet" in warning and "goodbye" in warning


# --- dump ---------------------------------------------------------------------------------------


def _essence(data: TrainingData) -> list[tuple[str, str, tuple[tuple[str, str, int, int], ...]]]:
    return [
        (ex.text, ex.intent, tuple((e.entity, e.value, e.start, e.end) for e in ex.entities))
        for ex in data.examples
    ]


def test_dump_then_parse_round_trips_examples_intents_and_entities() -> None:
    original = rasa_format.parse(
        'version: "3.1"\n'
        "nlu:\n"
        "- intent: order_status\n"
        "  examples: |\n"
        "    - where is order [202611180042](order_id) now\n"
        '    - ship to [Berlin]{"entity": "city", "value": "Berlin, DE"} and [Oslo](city)\n'
        "    - my [kite x5](product:Kite X5) broke\n"
        "- intent: greet\n"
        "  examples: |\n"
        "    - 你好 [小明](name)\n"
        "    - hi\n"
    )
    text = rasa_format.dump(original)
    again = rasa_format.parse(text, "dumped.yml")

    assert _essence(again) == _essence(original)
    assert again.intents == ["greet", "order_status"]
    assert again.synonyms == {"berlin": "Berlin, DE", "kite x5": "Kite X5"}


def test_dump_keeps_roles_and_groups() -> None:
    original = rasa_format.parse(
        "nlu:\n- intent: fly\n  examples: |\n"
        '    - from [Rome]{"entity": "city", "role": "origin", "group": "1"} onwards\n'
    )
    again = rasa_format.parse(rasa_format.dump(original))
    assert spans(again.examples[0]) == spans(original.examples[0])


def test_dump_round_trips_several_entities_on_one_span() -> None:
    original = rasa_format.parse(
        "nlu:\n- intent: fly\n  examples: |\n"
        '    - fly to [Paris][{"entity": "city"}, {"entity": "location"}]\n'
    )
    again = rasa_format.parse(rasa_format.dump(original))
    assert _essence(again) == _essence(original)


def test_folded_examples_are_refused_because_they_join_lines() -> None:
    problem = only_problem("nlu:\n- intent: a\n  examples: >\n    - hi\n    - yo\n")
    assert problem.line == 3
    assert "examples: |" in problem.reason
