"""The pass criteria of one cell, beyond the checker's own verdict.

  - the checker says valid (True, not "unknown"), and for list-append the
    reads agree with the server's snapshot and commit timestamps;
  - at least `min_ok` client ops ended ok;
  - at most `max_info` of client ops ended info (indeterminate);
  - no acknowledged write was lost (a final read misses nothing acked);
  - every worker got an ok within `recovery_bar` s of the final heal;
  - no op raised inside the harness itself (that is a harness bug);
  - no daemon exited unless the nemesis killed it;
  - the nemesis completed at least `min_cycles` fault cycles.
"""


def lost_appends(history):
    """ok appends/writes missing from the final read of their key (append only).

    The final reads run after the heal, once every other op has finished, so
    each acknowledged append must be in them."""
    acked = {}
    final = {}
    final_phase = False
    for op in history:
        if op.get("process") == "nemesis":
            if op.get("f") == "phase":
                final_phase = op.get("value") == "final"
            continue
        if op.get("type") != "ok" or op.get("f") != "txn":
            continue
        for mop in op["value"]:
            if mop[0] == "append":
                acked.setdefault(mop[1], set()).add(mop[2])
            elif mop[0] == "r" and final_phase and isinstance(mop[2], list):
                final[mop[1]] = set(mop[2])
    lost = []
    for k, values in acked.items():
        if k not in final:
            continue
        lost += [(k, v) for v in sorted(values - final[k])]
    missing_final = sorted(k for k in acked if k not in final)
    return lost, missing_final


def judge(result, counts, workers, unexpected_exits, cycles, *, min_ok, max_info, recovery_bar,
          min_cycles, lost=(), timestamps=None):
    reasons = []
    if result.get("valid") is not True:
        reasons.append(f"checker verdict {result.get('valid')!r}: {', '.join(result.get('anomaly_types', []))}")
    if timestamps is not None and timestamps.get("valid") is not True:
        reasons.append("reads disagree with the server's own timestamps: "
                       + ", ".join(timestamps.get("anomaly_types", [])))
    total = counts["ok"] + counts["fail"] + counts["info"]
    if counts["ok"] < min_ok:
        reasons.append(f"only {counts['ok']} ok ops (need {min_ok})")
    info_share = counts["info"] / total if total else 1.0
    if info_share > max_info:
        reasons.append(f"{info_share:.1%} of ops indeterminate (at most {max_info:.0%})")
    if lost:
        reasons.append(f"{len(lost)} acknowledged writes lost, e.g. {list(lost)[:5]}")
    slow = [(w.index, w.first_ok_after_heal) for w in workers
            if w.first_ok_after_heal is None or w.first_ok_after_heal > recovery_bar]
    if slow:
        reasons.append(f"workers without an ok within {recovery_bar:.0f} s of the heal: {slow}")
    bugs = [e for w in workers for e in getattr(w, "harness_errors", [])]
    if bugs:
        reasons.append(f"{len(bugs)} ops raised in the harness (a harness bug), e.g. {bugs[0]}")
    not_final = [w.index for w in workers if w.error]
    if not_final:
        reasons.append(f"workers crashed: {[(w.index, w.error) for w in workers if w.error]}")
    if unexpected_exits:
        reasons.append(f"daemons exited on their own: {unexpected_exits}")
    if cycles < min_cycles:
        reasons.append(f"only {cycles} nemesis cycles (need {min_cycles})")
    return {"pass": not reasons, "reasons": reasons, "info_share": round(info_share, 4),
            "recovery_s": {w.index: (round(w.first_ok_after_heal, 3) if w.first_ok_after_heal is not None
                                     else None) for w in workers}}
