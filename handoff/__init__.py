"""Human handoff: queue, routing, agents and the agent console."""
