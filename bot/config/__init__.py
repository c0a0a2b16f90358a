"""config.yml: read once at start-up, validated, then passed down.

The file is Rasa-shaped (recipe, language, pipeline) plus relaydesk's own sections
(bot/config/sections.py). Every error names the key it is about and, where there is a fixed set,
the allowed values. Secrets are never written in the file: a value such as ``${TELEGRAM_TOKEN}``
is taken from the environment, which the loader (bot/config/loading.py) is the only one to read.
Each channel's `connectors.<name>` section is validated by the channel's own settings model
(connectors/registry.py).
"""

from bot.config.loading import config_from_dict, format_validation, load_config
from bot.config.sections import (
    RASA_ONLY_KEYS,
    ComponentConfig,
    Config,
    ConsoleSection,
    DialogueSection,
    HandoffSection,
    KnowledgeSection,
    Language,
    NLUSection,
    PrivacySection,
    RateLimits,
    RecoverySettings,
    ServerSection,
    SkillGroup,
    StorageSection,
)

__all__ = [
    "RASA_ONLY_KEYS",
    "ComponentConfig",
    "Config",
    "ConsoleSection",
    "DialogueSection",
    "HandoffSection",
    "KnowledgeSection",
    "Language",
    "NLUSection",
    "PrivacySection",
    "RateLimits",
    "RecoverySettings",
    "ServerSection",
    "SkillGroup",
    "StorageSection",
    "config_from_dict",
    "format_validation",
    "load_config",
]
