"""The kit the fault tests (tests/faults/) and the load bench (bench/load.py) share: real
processes (`relaydesk run` instances, a private PostgreSQL and Redis), clients that speak the
REST and widget protocols, and the invariants read back from the database afterwards.

It imports neither pytest nor the bench helpers, so both sides can use it:
- processes: free ports, polling with a deadline, subprocesses, PostgreSQL and Redis of one's own;
- servers: a `relaydesk run` config and process, groups of instances on one database, agents;
- clients: the widget's and the REST channel's wire format, and clients that retry as real ones;
- invariants: what must hold after any run (stored once, in order, answered, assigned once).
- wechat: WeChat's side of the webhook (signed posts, its retries of a MsgId, a dropped answer);
- telegram: long polling against the Bot API stand-in, and what was stored and sent per chat;
- widget: the widget as widget.js behaves when typed into fast (its outbox and resends).
"""
