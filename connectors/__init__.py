"""Channels: wire protocols in, one InboundMessage out; one OutboundMessage back to the wire."""
