"""relaydesk: a bilingual customer-service bot with human handoff."""

__version__ = "0.1.0"
