"""Protecting reporters: pseudonyms at the door, rate limits, retention of what may not stay."""
