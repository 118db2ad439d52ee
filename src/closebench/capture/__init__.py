"""Captures: tcpdump on both sides of the hop, and the one reader of the files it writes."""
