"""Consistency models: the anomaly types each forbids, and Meridian's PSI rule
for cycles (DESIGN.md §4), judged per cycle."""


NONCYCLE_TYPES = ("G1a", "G1b", "internal", "future-read", "dirty-update",
                  "duplicate-elements", "incompatible-order", "garbage-read",
                  "cyclic-versions", "lost-update", "duplicate-writes")
CYCLE_BASES = ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")

# Models, and the anomaly types each forbids outright. Cycle types are judged
# per cycle for "psi" (see psi_forbids).
_RU = {"G0", "duplicate-elements", "cyclic-versions", "duplicate-writes"}
_RC = _RU | {"G1a", "G1b", "G1c", "dirty-update", "incompatible-order"}
_SI = _RC | {"internal", "future-read", "garbage-read", "lost-update",
             "G-single", "G-nonadjacent"}
_SER = _SI | {"G2-item"}
_STRICT = _SER | {b + s for b in CYCLE_BASES for s in ("-process",
                                                       "-realtime")}
PSI_NONCYCLE = {"G1a", "G1b", "internal", "future-read", "dirty-update",
                "duplicate-elements", "incompatible-order", "garbage-read",
                "cyclic-versions", "lost-update", "duplicate-writes"}
MODELS = {"read-uncommitted": _RU, "read-committed": _RC,
          "snapshot-isolation": _SI, "si": _SI, "serializable": _SER,
          "strict-serializable": _STRICT}
REPORTED_MODELS = ("read-uncommitted", "read-committed", "psi",
                   "snapshot-isolation", "serializable",
                   "strict-serializable")


def psi_forbids(n_rw, adjacent, cross_rt, n_rw_sites):
    """Meridian's PSI rule (DESIGN.md §4) for one cycle.

    Without rw edges the cycle is a causality loop: forbidden everywhere
    (a realtime edge cannot point against causality either). Otherwise a
    realtime edge between sites makes it a cross-site stale read: allowed.
    One rw edge: read skew, forbidden. Two adjacent rw edges: write skew,
    which SI allows, so allowed. Two or more, none adjacent (long fork):
    forbidden when every transaction that missed a write ran at one site.
    """
    if n_rw == 0:
        return True
    if cross_rt:
        return False
    if n_rw == 1:
        return True
    if adjacent:
        return False
    return n_rw_sites <= 1


def forbidden_types(model, found, cycles):
    if model == "psi":
        out = {t for t in found if t in PSI_NONCYCLE}
        out |= {c["type"] for c in cycles if c["psi_forbidden"]}
        return out
    return found & MODELS[model]


def violates(model, found, cycles):
    if model == "psi":
        return bool(forbidden_types("psi", found, cycles))
    return bool(found & MODELS[model])
