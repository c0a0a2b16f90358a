"""Events in: `POST /api/events`, where the shop's systems (orders, payments, shipping) tell
relaydesk what happened to a customer, so the proactive rules (bot/proactive/) can act on it.

    signing.py     the request's signature: source, API key, timestamp and HMAC of the body
    validation.py  the body: one event or a batch, each field checked and size-limited
    routes.py      the endpoint: authenticate, validate, resolve the customer, store once

Events are stored by bot/store/customer_events.py, once per (source, event id): a replay is
answered as a duplicate and changes nothing.
"""
