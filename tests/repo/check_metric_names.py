#!/usr/bin/env python3
"""Every meridian_* metric the alerts and the dashboard use is one meridiand
exports (registered in server/server_metrics.cc) and is in docs/metrics.md."""
import json
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parents[2]
source = (root / "server/server_metrics.cc").read_text()
exported = set(re.findall(r'"(meridian_[a-z0-9_]+)"', source))
documented = (root / "docs/metrics.md").read_text()
used = {}
for path in ["deploy/prometheus/alerts.yaml", "deploy/grafana/dashboard.json"]:
    text = (root / path).read_text()
    if path.endswith(".json"):
        json.loads(text)  # must parse
    for name in re.findall(r"meridian_[a-z0-9_]+", text):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if base in exported or name in exported:
            used.setdefault(path, set()).add(base if base in exported else name)
            continue
        used.setdefault(path, set()).add(name)
errors = []
for path, names in used.items():
    for n in sorted(names):
        if n not in exported:
            errors.append(f"{path}: {n} is not exported by meridiand (server/server_metrics.cc)")
        elif f"`{n}`" not in documented:
            errors.append(f"{path}: {n} is not in docs/metrics.md")
for n in sorted(exported):
    if f"`{n}`" not in documented:
        errors.append(f"docs/metrics.md does not list {n}")
if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"ok: {sum(len(v) for v in used.values())} metric uses, {len(exported)} exported, all documented")
