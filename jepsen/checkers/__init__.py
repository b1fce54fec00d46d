"""Checkers for Meridian's Jepsen-style histories (pure standard library).

Each module exposes check(history, **options) -> dict with "valid" (True,
False or "unknown"), "anomaly_types", "anomalies" and "stats".
"""
