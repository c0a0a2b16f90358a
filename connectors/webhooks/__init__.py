"""Outgoing webhooks: the shop's systems (a CRM, a data warehouse, a chat-ops bot) hear about
conversations, handoffs, tickets and ratings as they happen.

    feed.py     notices new facts in the store's tables and records each as one event
    ledger.py   the events and their delivery rows: claimed with a lease, retried, sent/failed
    signing.py  HMAC-SHA256 signatures with a timestamp, and their verification for receivers
    sender.py   POSTs due deliveries, signed, and records how each went
    worker.py   runs the feed and the sender in every server instance

Events are derived from the store rather than raised by the code that changes it, so no code
path (a console action, the CLI, a sweeper, another instance) can forget to send one, and an
instance that dies mid-way leaves nothing unsent: the next scan finds the fact again and its
key says it is recorded already.
"""
