# The six triggers of the founding playbook (../shared/SEED_DIGEST.md, "Proactive contact"): the
# shipped config has one rule for each, and the README shows an event for each.
PLAYBOOK_TRIGGERS = frozenset(
    {
        "page_dwell",
        "cart_abandoned",
        "payment_failed",
        "shipment_delayed",
        "delivered",
        "repurchase_due",
    }
)
