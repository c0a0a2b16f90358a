"""A pipeline step that takes intent and entities from a running Rasa server's POST /model/parse.

A team with a Rasa model keeps it: relaydesk asks their server about each message and runs its
own steps around the answer (language, sentiment, fallback), so the knowledge base, handoff and
console work as with relaydesk's own classifier. Nothing is trained here; the Rasa model is the
team's.

When Rasa cannot be asked (refused connection, timeout, HTTP error, an answer of the wrong
shape) the message gets the `unavailable_intent` (Rasa's `nlu_fallback`) with
`fallback: "rasa_unavailable"`, and the turn goes on: the dialogue treats it as not understood,
so a good knowledge answer is still given, and repeated failures hand the customer to a human.
An operator sees one warning when Rasa goes away and one line when it is back, and GET /ready
reports the dependency as degraded meanwhile. After a failure, messages are not sent to Rasa for
`retry_after_seconds`, so a hung server costs one timeout rather than one per message.

Parsing runs on worker threads; one `httpx.Client` (thread-safe, with a connection pool) serves
them all.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from bot.nlu.component import BaseComponent
from bot.nlu.types import EntitySpan, IntentScore, Message
from bot.pipeline_config.params import RasaServerNLUParams

log = logging.getLogger(__name__)

UNAVAILABLE = "rasa_unavailable"  # the parse's `fallback` when Rasa could not be asked
RASA_FALLBACK_INTENT = "nlu_fallback"  # what Rasa's own FallbackClassifier predicts


class _HideToken(logging.Filter):
    """httpx logs every request's URL at INFO, and Rasa takes its auth token in the query
    string: log the URL with the token's value blanked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                a.copy_set_param("token", "***")
                if isinstance(a, httpx.URL) and "token" in a.params
                else a
                for a in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_HideToken())


class RasaAnswerError(ValueError):
    """Rasa answered, but not with a parse relaydesk can read."""


class RasaServerNLU(BaseComponent):
    """Intent, intent ranking and entities from a Rasa server (`rasa run --enable-api`)."""

    name: ClassVar[str] = "RasaServerNLU"
    in_training: ClassVar[bool] = False
    params: RasaServerNLUParams

    def __init__(self, params: RasaServerNLUParams) -> None:
        super().__init__(params)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._down_since: float | None = None  # monotonic time of the first failure in a row
        self._retry_at = 0.0  # before this monotonic time, do not ask Rasa

    # -- connection -------------------------------------------------------------------------
    def connect(self, params: RasaServerNLUParams) -> None:
        """Use another server, token or timeout from now on (the config being served)."""
        with self._lock:
            old, self._client = self._client, None
            self.params = params
            self._down_since, self._retry_at = None, 0.0
        if old is not None:
            old.close()

    @property
    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                timeout = self.params.timeout_seconds
                self._client = httpx.Client(
                    base_url=self.params.url, timeout=httpx.Timeout(timeout), trust_env=False
                )
            return self._client

    def _query(self) -> dict[str, str]:
        token = self.params.token
        return {"token": token.get_secret_value()} if token is not None else {}

    def _scrub(self, text: str) -> str:
        token = self.params.token
        secret = token.get_secret_value() if token is not None else ""
        return text.replace(secret, "***") if secret else text

    # -- asking -----------------------------------------------------------------------------
    def ask(self, text: str) -> dict[str, Any]:
        """Rasa's parse of `text`. Raises httpx.HTTPError or RasaAnswerError."""
        resp = self.client.post("/model/parse", params=self._query(), json={"text": text})
        if resp.status_code != 200:
            raise RasaAnswerError(_status_reason(resp))
        try:
            answer = resp.json()
        except json.JSONDecodeError as exc:
            raise RasaAnswerError("the answer is not JSON") from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("intent"), dict):
            raise RasaAnswerError("the answer has no 'intent' object")
        return answer

    def probe(self) -> str | None:
        """None when the server answers GET /status with a model loaded; otherwise why not."""
        try:
            resp = self.client.get("/status", params=self._query())
        except httpx.HTTPError as exc:
            return f"{self.params.url}: {self._scrub(_error_reason(exc))}"
        if resp.status_code != 200:
            return f"{self.params.url}: {_status_reason(resp)}"
        try:
            status = resp.json()
        except json.JSONDecodeError:
            return f"{self.params.url}: /status did not answer JSON"
        if not isinstance(status, dict) or not status.get("model_file"):
            return f"{self.params.url}: the Rasa server has no model loaded"
        with self._lock:
            self._retry_at = 0.0  # it answers: let the next message try at once
        return None

    # -- the pipeline step ------------------------------------------------------------------
    def process(self, message: Message) -> None:
        now = time.monotonic()
        if now < self._retry_at:
            self._unavailable(message)
            return
        try:
            answer = self.ask(message.text)
            apply_answer(message, answer, self.params.intent_map, self.params.entity_map)
        except (httpx.HTTPError, RasaAnswerError, KeyError, TypeError, ValueError) as exc:
            self._failed(exc, now)
            self._unavailable(message)
            return
        if self._down_since is not None:
            with self._lock:
                since, self._down_since = self._down_since, None
            if since is not None:
                log.info("Rasa server %s answers again after %.0f s", self.params.url, now - since)

    def _failed(self, exc: Exception, now: float) -> None:
        reason = self._scrub(_error_reason(exc))
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = now
            self._retry_at = now + self.params.retry_after_seconds
        if first:
            log.warning(
                "Rasa server %s unavailable (%s); messages get intent %s until it answers "
                "again (tried again every %g s)",
                self.params.url,
                reason,
                self.params.unavailable_intent,
                self.params.retry_after_seconds,
            )
        else:
            log.debug("Rasa server %s still unavailable: %s", self.params.url, reason)

    def _unavailable(self, message: Message) -> None:
        score = IntentScore(self.params.unavailable_intent, 0.0)
        message.intent = score
        message.intent_ranking = [score]
        message.fallback = UNAVAILABLE


def apply_answer(
    message: Message,
    answer: dict[str, Any],
    intent_map: Mapping[str, str] | None = None,
    entity_map: Mapping[str, str] | None = None,
) -> None:
    """Put Rasa's parse on the message: intent, ranking and entities (their extractors kept),
    with names renamed by the maps. Raises KeyError, TypeError or ValueError, leaving the
    message as it was, when the answer is not shaped like Rasa's."""
    intents, names = intent_map or {}, entity_map or {}
    intent = answer["intent"]
    ranking: list[IntentScore] = []
    for r in answer.get("intent_ranking") or []:
        if isinstance(r, dict) and r.get("name") is not None:
            name = intents.get(str(r["name"]), str(r["name"]))
            if all(s.name != name for s in ranking):  # two mapped onto one: the higher stays
                ranking.append(IntentScore(name, float(r["confidence"])))
    top = None
    rasa_fell_back = intent.get("name") == RASA_FALLBACK_INTENT
    if intent.get("name") is not None:
        name = intents.get(str(intent["name"]), str(intent["name"]))
        top = IntentScore(name, float(intent.get("confidence") or 0.0))
        if not ranking or ranking[0].name != top.name:
            ranking = [top, *(r for r in ranking if r.name != top.name)]
    entities = [_entity(ent, names) for ent in answer.get("entities") or []]
    if top is not None:
        message.intent = top
        message.intent_ranking = ranking
        if rasa_fell_back:
            message.fallback = _rasa_fallback_reason(ranking)
    message.entities.extend(entities)


def _entity(ent: dict[str, Any], names: Mapping[str, str]) -> EntitySpan:
    value = ent["value"]
    return EntitySpan(
        entity=names.get(str(ent["entity"]), str(ent["entity"])),
        # Duckling's values are numbers or objects; the parse carries text.
        value=value if isinstance(value, str) else json.dumps(value, ensure_ascii=False),
        start=int(ent["start"]),
        end=int(ent["end"]),
        extractor=str(ent.get("extractor") or ""),
        role=None if ent.get("role") is None else str(ent["role"]),
        group=None if ent.get("group") is None else str(ent["group"]),
    )


def _rasa_fallback_reason(ranking: list[IntentScore]) -> str:
    """Why Rasa's FallbackClassifier fell back. It puts nlu_fallback first with its threshold as
    the confidence, before the real prediction: below the threshold, that was low confidence;
    at or above it, the top two were too close."""
    if len(ranking) < 2:
        return "low_confidence"
    return "low_confidence" if ranking[1].confidence < ranking[0].confidence else "ambiguous"


def _status_reason(resp: httpx.Response) -> str:
    if resp.status_code in (401, 403):
        return f"HTTP {resp.status_code}: the server refused the token (Rasa's --auth-token)"
    if resp.status_code == 409:
        return "HTTP 409: the Rasa server has no model loaded"
    return f"HTTP {resp.status_code} from {resp.request.url.path}"


def _error_reason(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time ({type(exc).__name__})"
    if isinstance(exc, httpx.HTTPError):
        # httpx's messages can carry the URL, and with it the token: name the error, add the
        # operating system's reason for connection errors.
        cause = exc.__cause__ or exc.__context__
        return f"{type(exc).__name__}: {cause}" if cause else type(exc).__name__
    return str(exc) or type(exc).__name__
