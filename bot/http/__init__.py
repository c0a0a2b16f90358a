"""The HTTP pieces every room with routes shares: the app's typed keys, strict JSON bodies, the
one error shape, and rate limits.

They sit in the core layer, so the channels (connectors/) and the console (handoff/console/)
import them from below instead of from the composition root (bot/server/), which imports them.
"""
