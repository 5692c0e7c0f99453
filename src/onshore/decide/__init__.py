"""Decide: which backends may serve a request. Pure code: no I/O, the clock is passed in."""
