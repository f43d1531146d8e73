"""Print where a fresh golden-audit report differs from the committed golden file: python tests/golden_diff.py NAME."""

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import test_golden_report as golden  # noqa: E402


def diff(new, old, path=""):
    if type(new) is not type(old):
        print(path, repr(new)[:120], "!=", repr(old)[:120])
    elif isinstance(new, dict):
        for key in sorted(set(new) | set(old)):
            diff(new.get(key), old.get(key), f"{path}.{key}")
    elif isinstance(new, list):
        if len(new) != len(old):
            print(path, "length", len(new), "!=", len(old))
        for i, (x, y) in enumerate(zip(new, old)):
            diff(x, y, f"{path}[{i}]")
    elif new != old:
        print(path, repr(new)[:120], "!=", repr(old)[:120])


for name in sys.argv[1:] or sorted(golden.CASES):
    with tempfile.TemporaryDirectory() as tmp:
        report = golden.normalise(golden.CASES[name](Path(tmp)))
    diff(report, golden.normalise(json.loads((golden.GOLDEN / f"{name}.report.json").read_text(encoding="utf-8"))), name)
