"""Persistence: customers, conversations, messages, tickets, handoffs and ratings in SQL.

SQLite by default (one process), PostgreSQL for scale; both through SQLAlchemy's async engine,
with Alembic migrations applied at start-up (engine.py). One repository per aggregate, each
behind a Protocol; `sql_store.SqlStore` composes them for the application.
"""
