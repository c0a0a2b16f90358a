"""The seam every pipeline step plugs into: train on examples, process messages, persist, load."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from bot.nlu.types import Message, TrainingData


@dataclass
class TrainContext:
    """What a component may use while training.

    `messages` are the training examples already processed by every earlier component, in the
    order of `data.examples`. `prepare` runs the earlier components on other texts, for steps
    (like sentiment) that train on data of their own.
    """

    data: TrainingData
    messages: list[Message]
    prepare: Callable[[list[str]], list[Message]]
    base_dir: Path


@runtime_checkable
class RemoteService(Protocol):
    """A step that asks a service outside the process; readiness checks ask it too."""

    name: ClassVar[str]

    def probe(self) -> str | None:
        """None when the service answers; otherwise why not, fit for an operator to read."""


@runtime_checkable
class Component(Protocol):
    name: ClassVar[str]

    def train(self, ctx: TrainContext) -> None:
        """Learn from the training data; a component with nothing to learn does nothing."""

    def process(self, message: Message) -> None:
        """Add this step's conclusions to one message."""

    def process_batch(self, messages: list[Message]) -> None:
        """Like process, for many messages at once (embedders batch them)."""

    def persist(self, directory: Path) -> None:
        """Write what was learned into `directory` (arrays as .npz, the rest as JSON)."""

    @classmethod
    def load(cls, params: Any, directory: Path) -> Component:
        """Rebuild a trained component from `persist`'s files."""


class BaseComponent:
    """Defaults for components that need some but not all of the protocol."""

    name: ClassVar[str] = ""
    # False for a step whose conclusions come from a service outside (RasaServerNLU): training
    # neither calls it nor needs it running, and no later step trains on what it would say.
    in_training: ClassVar[bool] = True

    def __init__(self, params: Any) -> None:
        self.params = params

    def train(self, ctx: TrainContext) -> None:
        return None

    def process(self, message: Message) -> None:
        raise NotImplementedError

    def process_batch(self, messages: list[Message]) -> None:
        for m in messages:
            self.process(m)

    def persist(self, directory: Path) -> None:
        return None

    @classmethod
    def load(cls, params: Any, directory: Path) -> Any:
        return cls(params)
