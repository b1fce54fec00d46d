#!/usr/bin/env python3
"""Every relative link in README.md and docs/**/*.md points at a file that exists."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parents[2]
files = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
broken = []
for f in files:
    for target in link.findall(f.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # external
        if not (f.parent / target).exists():
            broken.append(f"{f.relative_to(root)} -> {target}")
if len(files) < 5:
    broken.append(f"expected README.md and docs/*.md, found {len(files)} files")
for b in broken:
    print("broken link:", b)
print(f"checked {len(files)} files, {len(broken)} broken")
sys.exit(1 if broken else 0)
