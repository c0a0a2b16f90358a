"""Tickets worked by the service team: the desk (claim, assign, statuses, notes, updates the
customer receives, escalation, follow-ups), the SLA clocks, and the sweeper that escalates,
follows up and closes on time. The console's routes are handoff/console/tickets_api.py."""
