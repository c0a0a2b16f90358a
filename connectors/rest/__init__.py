"""Rasa's REST channel: a webhook in, the reply in its response, a long poll for the rest."""
