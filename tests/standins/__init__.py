"""Local stand-ins for third-party APIs (Telegram Bot API, WeChat Official Account API)."""
