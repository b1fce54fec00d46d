"""Tests for the jepsen.checkers dispatcher and command line."""

import contextlib
import io
import json
import os
import tempfile
import unittest

from jepsen import checkers
from jepsen.checkers import __main__ as cli
from jepsen.tests.histories import concurrent_txns, serial_txns


class CliTest(unittest.TestCase):

    def write(self, ops):
        fd, path = tempfile.mkstemp(suffix=".jsonl")
        with os.fdopen(fd, "w") as fh:
            for op in ops:
                fh.write(json.dumps(op) + "\n")
        self.addCleanup(os.remove, path)
        return path

    def run_cli(self, argv):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(argv)
        return code, json.loads(out.getvalue())

    def test_valid_exit_0(self):
        path = self.write(serial_txns([(0, [["append", 1, 1]], {}),
                                       (1, [["r", 1, [1]]], {})]))
        code, res = self.run_cli(["--workload", "append", path])
        self.assertEqual(code, 0)
        self.assertIs(res["valid"], True)
        self.assertIs(checkers.check_file(path, "append")["valid"], True)

    def test_invalid_exit_1_and_model_flag(self):
        path = self.write(concurrent_txns([
            (0, [["append", "x", 1]], {"site": "s1"}),
            (1, [["append", "y", 1]], {"site": "s2"}),
            (2, [["r", "x", [1]], ["r", "y", []]], {"site": "s1"}),
            (3, [["r", "x", []], ["r", "y", [1]]], {"site": "s2"})]))
        self.assertEqual(self.run_cli(["--workload", "append", path])[0], 0)
        code, res = self.run_cli(["--workload", "append", "--model", "si",
                                  path])
        self.assertEqual(code, 1)
        self.assertEqual(res["forbidden"], ["G-nonadjacent"])

    def test_unknown_exit_2(self):
        path = self.write([])
        code, res = self.run_cli(["--workload", "bank", "--opt", "total=10",
                                  path])
        self.assertEqual(code, 2)
        self.assertEqual(res["valid"], "unknown")

    def test_malformed_history_exit_2(self):
        path = self.write([{"index": 0, "type": "ok", "process": 0,
                            "f": "txn", "value": []}])
        code, res = self.run_cli(["--workload", "append", path])
        self.assertEqual(code, 2)
        self.assertIn("no invoke", res["error"])

    def test_unknown_workload(self):
        with self.assertRaises(ValueError):
            checkers.check([], "nope")


if __name__ == "__main__":
    unittest.main()
