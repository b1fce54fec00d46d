"""Meridian's Jepsen-style fault harness (issue 9)."""
