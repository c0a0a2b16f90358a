"""Reads Rasa's YAML NLU training-data format (3.x), so any Rasa project's data trains relaydesk.

Invalid input is reported with file, line and reason, every problem of a file at once. Keys that
belong to other Rasa file kinds (stories, rules, responses, domain keys) are skipped, because a Rasa
data folder mixes them freely.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.errors import DataProblem, TrainingDataError
from bot.nlu.types import EntitySpan, RegexPattern, TrainingData, TrainingExample

log = logging.getLogger(__name__)

SUPPORTED_VERSIONS = ("2.0", "3.0", "3.1")
# Keys other Rasa file kinds put at the top level; a mixed file is valid, we read only `nlu`.
OTHER_RASA_KEYS = frozenset(
    {
        "stories",
        "rules",
        "responses",
        "intents",
        "entities",
        "slots",
        "actions",
        "forms",
        "session_config",
        "e2e_actions",
        "assistant_id",
        "recipe",
        "language",
        "pipeline",
        "policies",
        "config",
        "metadata",
    }
)
ITEM_KINDS = ("intent", "synonym", "regex", "lookup")
MAX_FILE_BYTES = 50 * 1024 * 1024

# Rasa's own annotation grammar: [text](entity), [text](entity:value) (legacy),
# [text]{"entity": ..., "value": ..., "role": ..., "group": ...}, and [text][{...}, {...}].
_ENTITY = re.compile(
    r"\[(?P<text>[^\]]+?)\]"
    r"(?:\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)"
    r"|\{(?P<dict>[^}]+?)\}"
    r"|\[(?P<list>.*?)\])"
)


_LEFTOVER = re.compile(r"\]\(|\]\{|\[[^\]\[]*\([A-Za-z_][\w.-]*(?::[^)]*)?\)")


def load(path: str | Path) -> TrainingData:
    """Load one Rasa NLU file, or every NLU file under a folder (non-NLU YAML files are skipped)."""
    root = Path(path)
    if not root.exists():
        raise TrainingDataError([DataProblem(str(root), None, "no such file or folder")])
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
        if not files:
            raise TrainingDataError([DataProblem(str(root), None, "folder holds no .yml files")])
        data = TrainingData()
        problems: list[DataProblem] = []
        for f in files:
            try:
                part = load_file(f, require_nlu=False)
            except TrainingDataError as exc:
                problems.extend(exc.problems)
                continue
            data.merge(part)
        if problems:
            raise TrainingDataError(problems)
        if not data.examples:
            raise TrainingDataError([DataProblem(str(root), None, "no NLU examples found")])
        _check_conflicts(data)
        return data
    data = load_file(root, require_nlu=True)
    _check_conflicts(data)
    return data


def load_file(path: Path, *, require_nlu: bool = True) -> TrainingData:
    name = str(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise TrainingDataError([DataProblem(name, None, f"file is over {MAX_FILE_BYTES} bytes")])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TrainingDataError(
            [DataProblem(name, None, f"not UTF-8 text ({exc.reason})")]
        ) from exc
    return parse(text, name, require_nlu=require_nlu)


def parse(text: str, filename: str = "<string>", *, require_nlu: bool = True) -> TrainingData:
    """Parse the text of a Rasa NLU YAML file."""
    problems: list[DataProblem] = []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise TrainingDataError(
            [DataProblem(filename, line, f"invalid YAML: {exc.problem or exc.context}")]
        ) from exc
    except yaml.YAMLError as exc:
        raise TrainingDataError([DataProblem(filename, None, f"invalid YAML: {exc}")]) from exc

    data = TrainingData(files=[filename])
    if root is None:
        if require_nlu:
            problems.append(DataProblem(filename, None, "file is empty"))
            raise TrainingDataError(problems)
        return data
    if not isinstance(root, MappingNode):
        raise TrainingDataError(
            [DataProblem(filename, _line(root), "top level must be a mapping with an 'nlu' key")]
        )

    top = {_scalar(k): (k, v) for k, v in root.value}
    nlu_node = None
    for key, (knode, vnode) in top.items():
        if key == "version":
            version = _scalar(vnode)
            if version not in SUPPORTED_VERSIONS:
                problems.append(
                    DataProblem(
                        filename,
                        _line(knode),
                        f"unsupported version {version!r}; expected one of "
                        f'{", ".join(SUPPORTED_VERSIONS)} (quote it: version: "3.1")',
                    )
                )
            elif isinstance(vnode, ScalarNode) and vnode.tag.endswith((":float", ":int")):
                problems.append(
                    DataProblem(
                        filename,
                        _line(knode),
                        f'version {version} is a number in YAML; quote it: version: "{version}"',
                    )
                )
        elif key == "nlu":
            nlu_node = vnode
        elif key not in OTHER_RASA_KEYS:
            problems.append(
                DataProblem(
                    filename,
                    _line(knode),
                    f"unknown top-level key {key!r}; an NLU file has 'version' and 'nlu'",
                )
            )
    if nlu_node is None:
        if require_nlu:
            problems.append(DataProblem(filename, 1, "no 'nlu' section"))
        if problems:
            raise TrainingDataError(problems)
        return data
    if isinstance(nlu_node, ScalarNode) and nlu_node.value in ("", "null", "~"):
        if problems:
            raise TrainingDataError(problems)
        return data
    if not isinstance(nlu_node, SequenceNode):
        problems.append(DataProblem(filename, _line(nlu_node), "'nlu' must be a list of items"))
        raise TrainingDataError(problems)

    for item in nlu_node.value:
        _read_item(item, filename, data, problems)
    if problems:
        raise TrainingDataError(problems)
    return data


def _read_item(node: Node, filename: str, data: TrainingData, problems: list[DataProblem]) -> None:
    line = _line(node)
    if not isinstance(node, MappingNode):
        problems.append(
            DataProblem(
                filename, line, "each 'nlu' item must be a mapping such as '- intent: greet'"
            )
        )
        return
    fields = {_scalar(k): v for k, v in node.value}
    kinds = [k for k in ITEM_KINDS if k in fields]
    if len(kinds) != 1:
        found = ", ".join(kinds) or "none"
        problems.append(
            DataProblem(
                filename,
                line,
                f"an item needs exactly one of {', '.join(ITEM_KINDS)} (found: {found})",
            )
        )
        return
    kind = kinds[0]
    unknown = set(fields) - {kind, "examples", "metadata"}
    if unknown:
        problems.append(
            DataProblem(
                filename,
                line,
                f"unknown key(s) {', '.join(sorted(unknown))} in {kind} item; "
                "allowed: examples, metadata",
            )
        )
        return
    name = _scalar(fields[kind]).strip()
    if not name:
        problems.append(DataProblem(filename, line, f"{kind} name is empty"))
        return
    if "examples" not in fields:
        problems.append(DataProblem(filename, line, f"{kind} {name!r} has no 'examples'"))
        return
    examples = list(_examples(fields["examples"], filename, problems))
    if kind == "intent":
        for text, ex_line in examples:
            try:
                plain, entities = parse_annotations(text)
            except ValueError as exc:
                problems.append(DataProblem(filename, ex_line, str(exc)))
                continue
            if not plain.strip():
                problems.append(DataProblem(filename, ex_line, "example is empty"))
                continue
            data.examples.append(TrainingExample(plain, name, entities, f"{filename}:{ex_line}"))
            for ent in entities:
                if ent.value != plain[ent.start : ent.end]:
                    data.synonyms[plain[ent.start : ent.end].casefold()] = ent.value
    elif kind == "synonym":
        for text, _ in examples:
            data.synonyms[text.casefold()] = name
    elif kind == "regex":
        for text, ex_line in examples:
            try:
                re.compile(text)
            except re.error as exc:
                problems.append(DataProblem(filename, ex_line, f"regex {name!r} is invalid: {exc}"))
                continue
            data.regexes.append(RegexPattern(name, text, f"{filename}:{ex_line}"))
    else:  # lookup
        data.lookups.setdefault(name, []).extend(text for text, _ in examples)


def _examples(node: Node, filename: str, problems: list[DataProblem]) -> Iterable[tuple[str, int]]:
    """Yield (example, line) from a block string of '- ' lines or Rasa's list of {text: ...}."""
    if isinstance(node, ScalarNode):
        if node.style == ">":
            # Folding joins the lines, so "- hi" and "- yo" would silently become one example.
            problems.append(
                DataProblem(
                    filename,
                    _line(node),
                    "examples use folded style '>', which joins the lines; use 'examples: |'",
                )
            )
            return
        if node.style != "|" and "\n" not in node.value and node.value.strip():
            first = node.value.strip()
            if not first.startswith("- "):
                problems.append(
                    DataProblem(
                        filename,
                        _line(node),
                        "examples must be a block of lines starting with '- ' (use 'examples: |')",
                    )
                )
                return
        # Literal blocks start on the line after the "|" indicator.
        offset = 1 if node.style == "|" else 0
        base = _line(node) + offset
        for i, raw in enumerate(node.value.split("\n")):
            stripped = raw.strip()
            if not stripped:
                continue
            if not stripped.startswith("-"):
                problems.append(
                    DataProblem(
                        filename, base + i, f"example line must start with '- ': {stripped!r}"
                    )
                )
                continue
            text = stripped[1:].strip()
            if not text:
                problems.append(DataProblem(filename, base + i, "example is empty"))
                continue
            yield text, base + i
    elif isinstance(node, SequenceNode):
        for sub in node.value:
            if isinstance(sub, MappingNode):
                sub_fields = {_scalar(k): v for k, v in sub.value}
                text_node = sub_fields.get("text")
                if text_node is None or not isinstance(text_node, ScalarNode):
                    problems.append(DataProblem(filename, _line(sub), "example needs a 'text' key"))
                    continue
                text = text_node.value.strip()
                if not text:
                    problems.append(DataProblem(filename, _line(sub), "example is empty"))
                    continue
                yield text, _line(sub)
            elif isinstance(sub, ScalarNode) and sub.value.strip():
                yield sub.value.strip(), _line(sub)
            else:
                problems.append(DataProblem(filename, _line(sub), "example must be text"))
    else:
        problems.append(DataProblem(filename, _line(node), "'examples' must be text or a list"))


def parse_annotations(text: str) -> tuple[str, tuple[EntitySpan, ...]]:
    """Strip Rasa entity markup from an example; return the plain text and the annotated spans."""
    entities: list[EntitySpan] = []
    plain_parts: list[str] = []
    pos = 0
    plain_len = 0
    for m in _ENTITY.finditer(text):
        before = text[pos : m.start()]
        plain_parts.append(before)
        plain_len += len(before)
        span_text = m.group("text")
        start, end = plain_len, plain_len + len(span_text)
        for spec in _entity_specs(m):
            entity = str(spec.get("entity", "")).strip()
            if not entity:
                raise ValueError(f"entity annotation {m.group(0)!r} names no entity")
            value = spec.get("value", span_text)
            entities.append(
                EntitySpan(
                    entity=entity,
                    value=str(value),
                    start=start,
                    end=end,
                    extractor="annotation",
                    role=_opt_str(spec.get("role")),
                    group=_opt_str(spec.get("group")),
                )
            )
        plain_parts.append(span_text)
        plain_len = end
        pos = m.end()
    plain_parts.append(text[pos:])
    plain = "".join(plain_parts)
    # Markup that survived the grammar is a typo: "[T-1002(ticket_id)", "[T-1002](ticket_id".
    if _LEFTOVER.search(plain):
        raise ValueError(f"malformed entity annotation in {text!r}")
    return plain, tuple(entities)


def _entity_specs(m: re.Match[str]) -> list[dict[str, Any]]:
    if m.group("entity") is not None:
        spec: dict[str, Any] = {"entity": m.group("entity").strip()}
        if m.group("value") is not None:
            spec["value"] = m.group("value").strip()
        return [spec]
    raw = (
        "{" + m.group("dict") + "}" if m.group("dict") is not None else "[" + m.group("list") + "]"
    )
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"entity annotation {m.group(0)!r} is not valid JSON: {exc.msg}") from exc
    specs = parsed if isinstance(parsed, list) else [parsed]
    if not specs or not all(isinstance(s, dict) for s in specs):
        raise ValueError(f"entity annotation {m.group(0)!r} must be an object or list of objects")
    return specs


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _check_conflicts(data: TrainingData) -> None:
    """The same text under two intents cannot be learned; warn as Rasa does, keep both."""
    seen: dict[str, TrainingExample] = {}
    for ex in data.examples:
        key = ex.text.strip().casefold()
        prev = seen.get(key)
        if prev is not None and prev.intent != ex.intent:
            msg = (
                f"{ex.source}: example {ex.text!r} is labelled {ex.intent!r} here and "
                f"{prev.intent!r} at {prev.source}"
            )
            data.warnings.append(msg)
            log.warning(msg)
        seen.setdefault(key, ex)


def _scalar(node: Node) -> str:
    return node.value if isinstance(node, ScalarNode) else ""


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def dump(data: TrainingData) -> str:
    """Write training data back in Rasa's YAML format (used to convert public datasets)."""
    by_intent: dict[str, list[str]] = {}
    for ex in data.examples:
        by_intent.setdefault(ex.intent, []).append(_annotate(ex))
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in by_intent.items():
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {' '.join(t.split())}" for t in texts)
    return "\n".join(lines) + "\n"


def _annotate(ex: TrainingExample) -> str:
    """Put an example's entities back into Rasa markup; entities sharing a span use list form."""
    spans: dict[tuple[int, int], list[EntitySpan]] = {}
    for ent in ex.entities:
        spans.setdefault((ent.start, ent.end), []).append(ent)
    out = ex.text
    for (start, end), ents in sorted(spans.items(), reverse=True):
        span = out[start:end]
        specs = []
        for ent in ents:
            spec: dict[str, str] = {"entity": ent.entity}
            if ent.value != span:
                spec["value"] = ent.value
            if ent.role is not None:
                spec["role"] = ent.role
            if ent.group is not None:
                spec["group"] = ent.group
            specs.append(spec)
        if len(specs) == 1 and set(specs[0]) == {"entity"}:
            mark = f"({specs[0]['entity']})"
        elif len(specs) == 1:
            mark = json.dumps(specs[0], ensure_ascii=False)
        else:
            mark = json.dumps(specs, ensure_ascii=False)
        out = f"{out[:start]}[{span}]{mark}{out[end:]}"
    return out
