"""`relaydesk kb import`: turns an existing FAQ spreadsheet (CSV) into articles.

Columns: question, answer, category, language (required); title, id, tags (optional). Rows with
the same answer, category and language become one article with several questions.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bot.errors import DataProblem
from bot.knowledge.article import Article
from bot.knowledge.base import _slug
from bot.knowledge.loader import ArticleError, load_base, parse_article
from bot.knowledge.writer import path_for, render, write

REQUIRED_COLUMNS = ("question", "answer", "category", "language")
MAX_ROWS = 100_000


@dataclass
class ImportReport:
    articles: list[Article] = field(default_factory=list)
    problems: list[DataProblem] = field(default_factory=list)
    rows: int = 0


def import_csv(path: Path, out_root: Path, status: str = "published") -> ImportReport:
    report = ImportReport()
    name = str(path)
    try:
        f = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        report.problems.append(DataProblem(name, None, f"cannot open: {exc.strerror}"))
        return report
    with f:
        reader = csv.DictReader(f)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            report.problems.append(
                DataProblem(
                    name,
                    1,
                    f"missing column(s) {', '.join(missing)}; need {', '.join(REQUIRED_COLUMNS)}",
                )
            )
            return report
        groups: dict[tuple[str, str, str], dict[str, object]] = {}
        for raw in reader:
            line = reader.line_num  # the physical line the row ended on (answers may span lines)
            report.rows += 1
            if report.rows > MAX_ROWS:
                report.problems.append(DataProblem(name, line, f"more than {MAX_ROWS} rows"))
                break
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            empty = [c for c in REQUIRED_COLUMNS if not row.get(c)]
            if empty:
                report.problems.append(DataProblem(name, line, f"empty {', '.join(empty)}"))
                continue
            key = (row["answer"], row["category"].strip("/").lower(), row["language"].lower())
            group = groups.setdefault(
                key,
                {
                    "questions": [],
                    "line": line,
                    "title": row.get("title"),
                    "id": row.get("id"),
                    "tags": row.get("tags"),
                },
            )
            questions = group["questions"]
            assert isinstance(questions, list)
            if row["question"] not in questions:
                questions.append(row["question"])
    # Never overwrite: ids and files already in the base (or earlier in this file) are taken.
    existing = load_base(out_root) if out_root.is_dir() else None
    taken: set[str] = set(existing.by_id()) if existing else set()
    for (answer, category, language), group in groups.items():
        questions = group["questions"]
        assert isinstance(questions, list)
        title = str(group["title"] or questions[0])[:80]
        art_id = str(group["id"] or f"{category}/{_slug(title)}").lower()
        base_id, n = art_id, 2

        def clashes(candidate: str, lang: str = language) -> bool:
            probe = Article(id=candidate, title="", category="", language=lang, body="")
            return candidate in taken or path_for(out_root, probe).exists()

        while clashes(art_id):
            art_id, n = f"{base_id}-{n}", n + 1
        taken.add(art_id)
        tags = tuple(t.strip() for t in str(group["tags"] or "").split(",") if t.strip())
        article = Article(
            id=art_id,
            title=title,
            category=category,
            language=language,
            body=answer,
            version=1,
            updated=date.today(),
            status=status,
            questions=tuple(questions),
            tags=(*tags, "imported"),
        )
        try:
            parse_article(render(article), name)  # the same checks as any article
        except ArticleError as exc:
            report.problems.append(DataProblem(name, int(str(group["line"])), exc.reason))
            continue
        target = path_for(out_root, article)
        write(out_root, article.with_changes(path=str(target)))
        report.articles.append(article.with_changes(path=str(target)))
    return report
