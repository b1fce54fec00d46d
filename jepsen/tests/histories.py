"""Builders for hand-written histories used by the checker tests."""


class Builder:
    """Appends invoke/completion events with ascending index and time."""

    def __init__(self):
        self.ops = []

    def _emit(self, **op):
        op["index"] = len(self.ops)
        op["time"] = op["index"] * 1000
        self.ops.append(op)
        return op

    def invoke(self, process, f, value, **extra):
        return self._emit(type="invoke", process=process, f=f, value=value,
                          **extra)

    def complete(self, process, f, value, type="ok", **extra):
        return self._emit(type=type, process=process, f=f, value=value,
                          **extra)

    def op(self, process, f, inv_value, value, type="ok", **extra):
        """An invoke immediately followed by its completion."""
        self.invoke(process, f, inv_value, **extra)
        return self.complete(process, f, value, type=type, **extra)

    def txn(self, process, value, type="ok", **extra):
        return self.op(process, "txn", blank_reads(value), value, type=type,
                       **extra)

    def nemesis(self, f, value=None):
        self._emit(type="info", process="nemesis", f=f, value=value)


def blank_reads(value):
    """A transaction's invoke value: its reads not yet filled in."""
    return [[m[0], m[1], None] if m[0] == "r" else list(m) for m in value]


def concurrent_txns(txns):
    """Invokes every (process, value, extra) first, then completes them all:
    no realtime order between any two."""
    b = Builder()
    for p, value, extra in txns:
        b.invoke(p, "txn", blank_reads(value), **extra)
    for p, value, extra in txns:
        b.complete(p, "txn", value, **extra)
    return b.ops


def serial_txns(txns):
    b = Builder()
    for p, value, extra in txns:
        b.txn(p, value, **extra)
    return b.ops
