"""Measure the shipped SentimentAnalyzer against simple baselines and public reference sets.

Trains config.yml's pipeline (calibrate: false on the intent classifier, which the sentiment step
does not use) on nlu_data, parses every text of bench/data/sentiment_eval.yml and compares
`sentiment.label` and `sentiment.emotion` with the gold ones, per language:

- label accuracy, macro-F1 over negative/neutral/positive, negative precision and recall;
- emotion accuracy (exact, "no emotion" included), recall on gold-flagged items (exact emotion),
  and precision of the flags raised.

Baselines on the same set: VADER alone (English), snownlp alone (Chinese), and the majority class
of the analyzer's training file. As public reference points (never trained on), the analyzer's
positive-vs-negative decision (score >= 0 counts as positive) on up to 1000 fixed-seed rows of
ChnSentiCorp hotel reviews and the SST-2 dev set, when /work/shared/datasets is present; both are
review domains, not customer-service messages, so read them as a sanity check, not as the target.

Neutral requests (issue 16: the bot apologised where nobody complained): the share of plain,
task-oriented requests the analyzer labels negative, `neutral_false_negative_rate`, on
- CLINC150 in-scope utterances (en): 1000 fixed-seed rows of the val split (dev: any threshold is
  chosen there) and 1000 of the test split (reported);
- SMP2019-ECDT (zh), the 2019mergeSMP dev split (tuning) and test split (reported), all rows of the
  task domains; the split has only ~230 of them, so also 1000 fixed-seed rows of its train split,
  which nothing here trains or tunes on (`heldout`).
SMP's health domain (symptoms and diseases: "得了肝癌怎么办"), and its poetry, riddle, joke and
story domains (quoted literature, not the speaker's own words) are left out: they are not the
neutral customer requests the figure is about. Target: <= 0.03. A sweep of the analyzer's
negative_prior over the dev splits shows the trade with sentiment_eval.yml's negative P/R, and
which prior the dev rule picks (the shipped default should be that one). Nothing of these sets
is trained on: the analyzer trains only on bot/nlu/resources/sentiment_train.yml.

Run: .venv/bin/python bench/sentiment.py
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATA,
    REPO,
    SEED,
    accuracy,
    ci95,
    emit_json,
    macro_f1,
    pipeline_spec,
    precision_recall,
    print_table,
    quiet_logging,
    rnd,
)

DATASETS = Path("/work/shared/datasets")
PUBLIC_ROWS = 1000
LABELS = ["negative", "neutral", "positive"]
NEUTRAL_ROWS = 1000
# SMP2019 domains that are not neutral requests in the speaker's own words (see the docstring).
SMP_NOT_NEUTRAL = frozenset({"health", "poetry", "riddle", "joke", "story"})
NEUTRAL_TARGET = 0.03
PRIOR_GRID = tuple(round(0.10 + 0.01 * i, 2) for i in range(21))  # negative_prior 0.10 .. 0.30


def _label_scores(gold: list[str], pred: list[str]) -> dict[str, Any]:
    neg_p, neg_r = precision_recall(gold, pred, "negative")
    return {
        "accuracy": accuracy(gold, pred),
        "macro_f1": macro_f1(gold, pred, labels=LABELS),
        "negative_precision": neg_p,
        "negative_recall": neg_r,
        "n": len(gold),
    }


def _emotion_scores(gold: list[str | None], pred: list[str | None]) -> dict[str, Any]:
    flagged = [(g, p) for g, p in zip(gold, pred, strict=True) if g is not None]
    raised = [(g, p) for g, p in zip(gold, pred, strict=True) if p is not None]
    return {
        "accuracy": accuracy(gold, pred),
        "recall": sum(g == p for g, p in flagged) / len(flagged) if flagged else None,
        "flag_precision": sum(g == p for g, p in raised) / len(raised) if raised else None,
        "n_flagged": len(flagged),
        "n_raised": len(raised),
    }


def _vader_label(compound: float) -> str:
    """VADER's documented thresholds: compound >= 0.05 positive, <= -0.05 negative."""
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


def _snownlp_label(p_positive: float) -> str:
    """snownlp's probability of positive: > 0.6 positive, < 0.4 negative, else neutral."""
    return "positive" if p_positive > 0.6 else "negative" if p_positive < 0.4 else "neutral"


# -- public reference sets ------------------------------------------------------------------
def _read_binary_table(path: Path, delimiter: str) -> tuple[list[tuple[str, int]], str | None]:
    """Rows (text, 0/1) of a table with a 'label' column and one text column, or a reason not to."""
    if not path.is_file():
        return [], f"{path} not found"
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        fields = [c.strip() for c in reader.fieldnames or []]
        text_col = next((c for c in ("review", "text", "sentence") if c in fields), None)
        if "label" not in fields or text_col is None:
            return [], f"{path.name}: columns {fields}; expected 'label' and a text column"
        rows, bad = [], 0
        for row in reader:
            text = (row.get(text_col) or "").strip()
            label = (row.get("label") or "").strip()
            if not text or label not in ("0", "1"):
                bad += 1
                continue
            rows.append((text, int(label)))
    if not rows:
        return [], f"{path.name}: no rows with a text and a 0/1 label"
    if bad > len(rows) * 0.05:
        return [], f"{path.name}: {bad} of {bad + len(rows)} rows unreadable; format unclear"
    return rows, None


def _sample(rows: list[tuple[str, int]]) -> list[tuple[str, int]]:
    if len(rows) <= PUBLIC_ROWS:
        return list(rows)
    return random.Random(SEED).sample(rows, PUBLIC_ROWS)


def _binary_reference(
    name: str,
    path: Path,
    delimiter: str,
    analyse: Callable[[str], Any],
    baseline: tuple[str, Callable[[str], int]] | None,
) -> dict[str, Any]:
    rows, reason = _read_binary_table(path, delimiter)
    if reason:
        print(f"{name}: skipped: {reason}")
        return {"skipped": reason}
    sample = _sample(rows)
    gold = [label for _, label in sample]
    started = time.perf_counter()
    sentiments = [analyse(text) for text, _ in sample]
    seconds = time.perf_counter() - started
    pred = [1 if s.score >= 0 else 0 for s in sentiments]
    majority = Counter(gold).most_common(1)[0][1] / len(gold)
    out: dict[str, Any] = {
        "n": len(sample),
        "of": len(rows),
        "accuracy": accuracy(gold, pred),
        "majority_accuracy": majority,
        "negative_recall": precision_recall(gold, pred, 0)[1],
        "positive_recall": precision_recall(gold, pred, 1)[1],
        "share_neutral": sum(s.label == "neutral" for s in sentiments) / len(sentiments),
        "seconds": seconds,
    }
    if baseline is not None:
        base_name, base_fn = baseline
        out[f"{base_name}_accuracy"] = accuracy(gold, [base_fn(t) for t, _ in sample])
    return out


# -- neutral requests (issue 16) --------------------------------------------------------------
def _clinc_in_scope(split: str) -> tuple[list[str], str | None]:
    """CLINC150 in-scope utterances of one split ("val" or "test"), or a reason not to."""
    path = DATASETS / "clinc150" / "data_full.json"
    if not path.is_file():
        return [], f"{path} not found"
    raw = json.loads(path.read_text(encoding="utf-8"))
    rows = raw.get(split)
    if not isinstance(rows, list) or not rows:
        return [], f"{path.name}: no '{split}' split"
    return [str(text) for text, _intent in rows], None


def _read_smp_merge(path: Path) -> list[str]:
    """Utterances of a 2019mergeSMP file: one "char<TAB>BIO-tag" line per character, then the
    intent alone on a line, then a blank line."""
    texts, chars = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) >= 2:
            chars.append(parts[0])
        else:  # the intent line closes the utterance
            texts.append("".join(chars))
            chars = []
    return texts


def _smp_task_requests(split: str) -> tuple[list[str], str | None]:
    """SMP2019 utterances of one 2019mergeSMP split in task domains, or a reason not to.

    The merge files carry intents, not domains; the domain comes from 2019train.json, which
    holds every utterance of the three splits. Unmapped utterances are dropped."""
    root = DATASETS / "smp2019" / "SMP"
    split_file = root / "merge" / "2019mergeSMP" / f"{split}.txt"
    source = root / "source" / "2019train.json"
    for path in (split_file, source):
        if not path.is_file():
            return [], f"{path} not found"
    domain = {str(row["text"]): str(row["domain"]) for row in json.loads(source.read_text("utf-8"))}
    texts = [
        t for t in _read_smp_merge(split_file) if t in domain and domain[t] not in SMP_NOT_NEUTRAL
    ]
    if not texts:
        return [], f"{split_file.name}: no utterances in task domains"
    return texts, None


def _neutral_sample(texts: list[str]) -> list[str]:
    return texts if len(texts) <= NEUTRAL_ROWS else random.Random(SEED).sample(texts, NEUTRAL_ROWS)


def _neutral_false_alarms(texts: list[str], analyse: Callable[[str], Any]) -> dict[str, Any]:
    """Share of neutral requests labelled negative, on up to NEUTRAL_ROWS fixed-seed rows."""
    sample = _neutral_sample(texts)
    labels = [analyse(t).label for t in sample]
    rate = sum(label == "negative" for label in labels) / len(labels)
    return {
        "n": len(sample),
        "of": len(texts),
        "neutral_false_negative_rate": rate,
        "ci95": ci95(rate, len(sample)),
        "positive_rate": sum(label == "positive" for label in labels) / len(labels),
    }


NEUTRAL_SETS = (
    # (figure suffix, shown name, reader, split)
    ("en_dev", "CLINC150 in-scope val (en)", _clinc_in_scope, "val"),
    ("en_test", "CLINC150 in-scope test (en)", _clinc_in_scope, "test"),
    ("zh_dev", "SMP2019 dev, task domains (zh)", _smp_task_requests, "dev"),
    ("zh_test", "SMP2019 test, task domains (zh)", _smp_task_requests, "test"),
    ("zh_heldout", "SMP2019 train, task domains (zh)", _smp_task_requests, "train"),
)


def _prior_sweep(
    pipeline: Any, trained_share: float, eval_set: list[Any]
) -> tuple[list[list[Any]], float | None]:
    """Neutral requests labelled negative on the dev splits, and negative P/R on
    sentiment_eval.yml, for each negative_prior of PRIOR_GRID; and the largest prior that keeps
    both dev rates at or under NEUTRAL_TARGET, the rule the shipped default was chosen by.

    The prior only moves the classifier's bias (bot.nlu.sentiment.prior_shift), so the trained
    analyzer is reused with its bias moved; the earlier steps run once."""
    import copy

    from bot.nlu.sentiment import prior_shift
    from bot.nlu.types import Message

    analyzer = pipeline.component("SentimentAnalyzer")
    base = analyzer.bias - prior_shift(analyzer.params.negative_prior, trained_share)

    def prepared(texts: list[str]) -> list[Any]:
        messages = [Message(text=t) for t in texts]
        for comp in pipeline.components:
            if comp is not analyzer:
                comp.process_batch(messages)
        return messages

    dev = {}
    for key, _name, reader, split in NEUTRAL_SETS:
        if key.endswith("_dev"):
            texts, reason = reader(split)
            if reason:
                return [], None
            dev[key] = prepared(_neutral_sample(texts))
    gold = {lang: [e.label for e in eval_set if e.language == lang] for lang in ("zh", "en")}
    labelled = {
        lang: prepared([e.text for e in eval_set if e.language == lang]) for lang in ("zh", "en")
    }
    rows, choice = [], None
    for prior in PRIOR_GRID:
        probe = copy.copy(analyzer)
        probe.bias = (base + prior_shift(prior, trained_share)).astype(analyzer.bias.dtype)
        rates = [
            sum(probe.analyse(m).label == "negative" for m in ms) / len(ms) for ms in dev.values()
        ]
        row: list[Any] = [prior, *rates]
        for lang in ("zh", "en"):
            pred = [probe.analyse(m).label for m in labelled[lang]]
            row += list(precision_recall(gold[lang], pred, "negative"))
        rows.append(row)
        if all(r <= NEUTRAL_TARGET for r in rates):
            choice = prior if choice is None else max(choice, prior)
    return rows, choice


def _neutral_requests(analyse: Callable[[str], Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, name, reader, split in NEUTRAL_SETS:
        texts, reason = reader(split)
        if reason:
            print(f"{name}: skipped: {reason}")
            out[key] = {"skipped": reason}
            continue
        out[key] = _neutral_false_alarms(texts, analyse)
    return out


def main() -> None:
    quiet_logging()
    from bot.nlu import rasa_format
    from bot.nlu.pipeline import NLUPipeline
    from bot.nlu.sentiment import load_labelled

    eval_set = load_labelled(DATA / "sentiment_eval.yml")
    train_set = load_labelled(None)  # the analyzer's own packaged training file
    train_keys = {t.text.strip().casefold() for t in train_set}
    overlap = sum(e.text.strip().casefold() in train_keys for e in eval_set)

    spec = pipeline_spec(calibrate=False)
    backend = next(s for s in spec if s["name"] == "SentenceEmbeddingFeaturizer")["backend"]
    data = rasa_format.load(REPO / "nlu_data")
    started = time.perf_counter()
    pipeline = NLUPipeline.train(spec, data, base_dir=REPO)
    train_s = time.perf_counter() - started
    print(
        f"trained config.yml's pipeline (embedder: {backend}; calibrate: false) on "
        f"{len(data.examples)} nlu_data examples in {train_s:.1f} s",
        file=sys.stderr,
    )

    langs = ("zh", "en")
    by_lang = {lang: [e for e in eval_set if e.language == lang] for lang in langs}
    results = {
        lang: [pipeline.parse(e.text).sentiment for e in items] for lang, items in by_lang.items()
    }
    shipped = {
        lang: {
            "label": _label_scores(
                [e.label for e in by_lang[lang]], [s.label for s in results[lang]]
            ),
            "emotion": _emotion_scores(
                [e.emotion for e in by_lang[lang]], [s.emotion for s in results[lang]]
            ),
        }
        for lang in langs
    }
    all_gold = [e.label for lang in langs for e in by_lang[lang]]
    all_pred = [s.label for lang in langs for s in results[lang]]
    shipped_all = _label_scores(all_gold, all_pred)

    # -- baselines --------------------------------------------------------------------------
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    en_gold = [e.label for e in by_lang["en"]]
    vader_en = _label_scores(
        en_gold,
        [_vader_label(vader.polarity_scores(e.text)["compound"]) for e in by_lang["en"]],
    )

    snow: Any = None
    snownlp_load_s: float | None = None
    snownlp_zh: dict[str, Any] | None = None
    try:
        started = time.perf_counter()
        from snownlp import SnowNLP

        SnowNLP("预热").sentiments  # noqa: B018 - loads the model; timed as load time
        snownlp_load_s = time.perf_counter() - started
        snow = SnowNLP
    except ImportError as exc:
        print(f"snownlp: skipped: not importable ({exc})")
    if snow is not None:
        snownlp_zh = _label_scores(
            [e.label for e in by_lang["zh"]],
            [_snownlp_label(snow(e.text).sentiments) for e in by_lang["zh"]],
        )

    # Majority class of the analyzer's training file, per language (a tie would go to neutral,
    # the do-nothing answer). Emotion: none.
    majority: dict[str, dict[str, Any]] = {}
    for lang in langs:
        counts = Counter(t.label for t in train_set if t.language == lang)
        top = max(LABELS, key=lambda lab: (counts[lab], lab == "neutral"))
        gold = [e.label for e in by_lang[lang]]
        majority[lang] = {
            "label": top,
            **_label_scores(gold, [top] * len(gold)),
            "emotion_accuracy": accuracy([e.emotion for e in by_lang[lang]], [None] * len(gold)),
        }

    # -- public reference sets ----------------------------------------------------------------
    def analyse(text: str) -> Any:
        return pipeline.parse(text).sentiment

    chn: dict[str, Any] = {"skipped": f"{DATASETS} does not exist"}
    sst2: dict[str, Any] = {"skipped": f"{DATASETS} does not exist"}
    neutral: dict[str, dict[str, Any]] = {k: dict(chn) for k, *_ in NEUTRAL_SETS}
    sweep: list[list[Any]] = []
    prior_choice: float | None = None
    if DATASETS.is_dir():
        neutral = _neutral_requests(analyse)
        trained_share = sum(t.label == "negative" for t in train_set) / len(train_set)
        sweep, prior_choice = _prior_sweep(pipeline, trained_share, eval_set)
        chn = _binary_reference(
            "ChnSentiCorp",
            DATASETS / "chinese_sentiment" / "ChnSentiCorp_htl_all.csv",
            ",",
            analyse,
            ("snownlp", lambda t: int(snow(t).sentiments >= 0.5)) if snow else None,
        )
        sst2 = _binary_reference(
            "SST-2",
            DATASETS / "sst2" / "dev.tsv",
            "\t",
            analyse,
            ("vader", lambda t: int(vader.polarity_scores(t)["compound"] >= 0)),
        )
    else:
        print(f"public reference sets skipped: {DATASETS} does not exist")

    # -- report -----------------------------------------------------------------------------
    print()
    print(
        f"Sentiment on bench/data/sentiment_eval.yml ({len(by_lang['zh'])} zh, "
        f"{len(by_lang['en'])} en; of them {overlap} also in the analyzer's training file)."
    )
    print(
        f"Shipped: config.yml's pipeline (embedder {backend}), intent classifier calibrate: "
        f"false; trained in {train_s:.1f} s."
    )
    print("macro-F1 over negative/neutral/positive; neg P/R: the negative class.")
    print()
    rows = []
    for lang in langs:
        s = shipped[lang]["label"]
        rows.append(
            [
                f"shipped analyzer ({lang})",
                s["n"],
                s["accuracy"],
                s["macro_f1"],
                s["negative_precision"],
                s["negative_recall"],
            ]
        )
    rows.append(
        [
            "shipped analyzer (all)",
            shipped_all["n"],
            shipped_all["accuracy"],
            shipped_all["macro_f1"],
            shipped_all["negative_precision"],
            shipped_all["negative_recall"],
        ]
    )
    rows.append(
        [
            "VADER alone (en; ±0.05)",
            vader_en["n"],
            vader_en["accuracy"],
            vader_en["macro_f1"],
            vader_en["negative_precision"],
            vader_en["negative_recall"],
        ]
    )
    if snownlp_zh is not None:
        rows.append(
            [
                "snownlp alone (zh; 0.4/0.6)",
                snownlp_zh["n"],
                snownlp_zh["accuracy"],
                snownlp_zh["macro_f1"],
                snownlp_zh["negative_precision"],
                snownlp_zh["negative_recall"],
            ]
        )
    for lang in langs:
        m = majority[lang]
        rows.append(
            [
                f"majority: {m['label']} ({lang})",
                m["n"],
                m["accuracy"],
                m["macro_f1"],
                m["negative_precision"],
                m["negative_recall"],
            ]
        )
    print_table(["label", "n", "accuracy", "macro-F1", "neg P", "neg R"], rows)
    if snownlp_load_s is not None:
        print(f"snownlp load (import + first call): {snownlp_load_s:.2f} s")
    print()
    print("Emotion flag (angry / disappointed / urgent, from cue phrases):")
    print("accuracy: exact match, no-emotion included; recall: gold-flagged items given the same")
    print("emotion; flag precision: raised flags that match the gold emotion.")
    print_table(
        [
            "emotion",
            "accuracy",
            "recall",
            "flag precision",
            "gold flagged",
            "raised",
            "majority (none) acc",
        ],
        [
            [
                lang,
                shipped[lang]["emotion"]["accuracy"],
                shipped[lang]["emotion"]["recall"],
                shipped[lang]["emotion"]["flag_precision"],
                shipped[lang]["emotion"]["n_flagged"],
                shipped[lang]["emotion"]["n_raised"],
                majority[lang]["emotion_accuracy"],
            ]
            for lang in langs
        ],
    )
    print()
    print(
        f"Public reference sets (evaluation only; up to {PUBLIC_ROWS} rows, seed {SEED}; "
        "analyzer: score >= 0 is positive):"
    )
    ref_rows = []
    refs = (("ChnSentiCorp htl (zh)", chn, "snownlp"), ("SST-2 dev (en)", sst2, "vader"))
    for name, ref, base in refs:
        if "skipped" in ref:
            ref_rows.append([name, "-", "skipped", ref["skipped"], "", "", "", "", ""])
            continue
        ref_rows.append(
            [
                name,
                f"{ref['n']}/{ref['of']}",
                ref["accuracy"],
                ref["negative_recall"],
                ref["positive_recall"],
                ref["majority_accuracy"],
                ref.get(f"{base}_accuracy"),
                f"{base}",
                ref["share_neutral"],
            ]
        )
    print_table(
        [
            "set",
            "rows",
            "analyzer acc",
            "neg R",
            "pos R",
            "majority acc",
            "baseline acc",
            "baseline",
            "share neutral",
        ],
        ref_rows,
    )
    print("(snownlp's bundled model was trained on shopping reviews, close to ChnSentiCorp's")
    print(" domain; VADER on SST-2 uses compound >= 0 as positive. Published SST-2 dev: BERT-base")
    print(" ~93.5; TF-IDF+LR trained on SST-2 83.1. The analyzer is not trained on either set.)")
    print()
    print(
        f"Neutral requests labelled negative (evaluation only; up to {NEUTRAL_ROWS} rows, seed "
        f"{SEED}; target <= {NEUTRAL_TARGET}; dev/val splits for tuning, test reported):"
    )
    print_table(
        ["set", "rows", "labelled negative", "±95%", "labelled positive"],
        [
            [name, "-", "skipped", neutral[key]["skipped"], ""]
            if "skipped" in neutral[key]
            else [
                name,
                f"{neutral[key]['n']}/{neutral[key]['of']}",
                neutral[key]["neutral_false_negative_rate"],
                neutral[key]["ci95"],
                neutral[key]["positive_rate"],
            ]
            for key, name, *_ in NEUTRAL_SETS
        ],
    )
    shipped_prior = pipeline.component("SentimentAnalyzer").params.negative_prior
    if sweep:
        print()
        print(
            "negative_prior (share of live messages taken to be negative; the analyzer's "
            f"odds are rescaled to it) on the dev splits; shipped: {shipped_prior}, dev rule "
            f"(largest prior with both dev rates <= {NEUTRAL_TARGET}): {prior_choice}."
        )
        print_table(
            [
                "negative_prior",
                "en val: neg",
                "zh dev: neg",
                "eval neg P zh",
                "neg R zh",
                "neg P en",
                "neg R en",
            ],
            sweep,
        )
    print()

    def g(d: dict[str, Any] | None, *keys: str) -> Any:
        for k in keys:
            if d is None:
                return None
            d = d.get(k)
        return d

    figures: dict[str, Any] = {
        "sentiment_accuracy": rnd(shipped_all["accuracy"]),
        "sentiment_macro_f1": rnd(shipped_all["macro_f1"]),
    }
    for lang in langs:
        lab, emo = shipped[lang]["label"], shipped[lang]["emotion"]
        figures.update(
            {
                f"sentiment_accuracy_{lang}": rnd(lab["accuracy"]),
                f"sentiment_macro_f1_{lang}": rnd(lab["macro_f1"]),
                f"negative_precision_{lang}": rnd(lab["negative_precision"]),
                f"negative_recall_{lang}": rnd(lab["negative_recall"]),
                f"emotion_accuracy_{lang}": rnd(emo["accuracy"]),
                f"emotion_recall_{lang}": rnd(emo["recall"]),
                f"emotion_flag_precision_{lang}": rnd(emo["flag_precision"]),
            }
        )
    figures.update(
        {
            "vader_accuracy_en": rnd(vader_en["accuracy"]),
            "vader_macro_f1_en": rnd(vader_en["macro_f1"]),
            "vader_negative_precision_en": rnd(vader_en["negative_precision"]),
            "vader_negative_recall_en": rnd(vader_en["negative_recall"]),
            "snownlp_accuracy_zh": rnd(g(snownlp_zh, "accuracy")),
            "snownlp_macro_f1_zh": rnd(g(snownlp_zh, "macro_f1")),
            "snownlp_negative_precision_zh": rnd(g(snownlp_zh, "negative_precision")),
            "snownlp_negative_recall_zh": rnd(g(snownlp_zh, "negative_recall")),
            "snownlp_load_s": rnd(snownlp_load_s, 3),
            "majority_accuracy_zh": rnd(majority["zh"]["accuracy"]),
            "majority_accuracy_en": rnd(majority["en"]["accuracy"]),
            "majority_macro_f1_zh": rnd(majority["zh"]["macro_f1"]),
            "majority_macro_f1_en": rnd(majority["en"]["macro_f1"]),
            "majority_emotion_accuracy_zh": rnd(majority["zh"]["emotion_accuracy"]),
            "majority_emotion_accuracy_en": rnd(majority["en"]["emotion_accuracy"]),
            "chnsenticorp_binary_accuracy": rnd(chn.get("accuracy")),
            "chnsenticorp_majority_accuracy": rnd(chn.get("majority_accuracy")),
            "chnsenticorp_negative_recall": rnd(chn.get("negative_recall")),
            "chnsenticorp_positive_recall": rnd(chn.get("positive_recall")),
            "snownlp_chnsenticorp_binary_accuracy": rnd(chn.get("snownlp_accuracy")),
            "chnsenticorp_n": chn.get("n"),
            "sst2_binary_accuracy": rnd(sst2.get("accuracy")),
            "sst2_majority_accuracy": rnd(sst2.get("majority_accuracy")),
            "sst2_negative_recall": rnd(sst2.get("negative_recall")),
            "sst2_positive_recall": rnd(sst2.get("positive_recall")),
            "vader_sst2_binary_accuracy": rnd(sst2.get("vader_accuracy")),
            "sst2_n": sst2.get("n"),
            "train_s": rnd(train_s, 2),
        }
    )
    for key, *_ in NEUTRAL_SETS:
        figures[f"neutral_false_negative_rate_{key}"] = rnd(
            neutral[key].get("neutral_false_negative_rate")
        )
        figures[f"neutral_n_{key}"] = neutral[key].get("n")
    figures["negative_prior"] = shipped_prior
    figures["negative_prior_dev_choice"] = prior_choice
    emit_json(figures)


if __name__ == "__main__":
    main()
