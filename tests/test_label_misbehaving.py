"""`rlaif-audit label` with evaluators that raise, exit, hang, lie or return nonsense: the judgment file is never
poisoned or lost, the error is one line with exit 1, and every resume continues; kill -9, Ctrl-C and two writers."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pytest
from click.testing import CliRunner

from rlaif_audit import hookimpl
from rlaif_audit.data.judgment_file import read_judgments
from rlaif_audit.judging.evaluator import Evaluator, Option
from rlaif_audit.records.types import JudgeItem, Judgment

PLUGIN = "misbehaving-test-plugin"
RELEASE = threading.Event()  # a hanging evaluator waits on this (set at the end of the module)


def good(item: JudgeItem) -> Judgment:
    """A valid judgment that depends on the item only (so a resumed run writes the same bytes)."""
    p_first = 0.25 + 0.5 * (sum(map(ord, item.first)) % 97) / 97
    return Judgment(item.pair_id, item.order, p_first, "first" if p_first > 0.5 else "second", "ok", "{}")


INVALID = {  # a judgment the reader would refuse, and a word its recorded reason must hold
    "nan": (dict(p_first=math.nan), "p_first"),
    "inf": (dict(p_first=math.inf), "p_first"),
    "1.5": (dict(p_first=1.5, verdict="first"), "p_first"),
    "string": (dict(p_first="0.7", verdict="first"), "p_first"),
    "null-ok": (dict(p_first=None, verdict=None), "p_first"),
    "bool": (dict(p_first=True, verdict="first"), "p_first"),
    "contradiction": (dict(p_first=0.2, verdict="first"), "verdict"),
    "bad-status": (dict(parse_status="fine"), "parse_status"),
    "not-json": (dict(raw=object()), "raw: not JSON"),
    "nan-latency": (dict(latency_s=math.nan), "latency_s: not JSON"),
}


class Misbehaving(Evaluator):
    """An evaluator that goes wrong in the way ``mode`` names once it has returned ``after`` judgments."""

    name = "misbehaving"
    description = "test evaluator"
    options = {"mode": Option("what goes wrong", "good"), "after": Option("judgments before it does", 10, int)}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.returned = 0
        self.calls = 0

    def identity(self) -> dict[str, Any]:
        if self.config["mode"] == "identity-raises":
            raise RuntimeError("cannot tell who I am")
        return {"evaluator": self.name}  # the mode is left out: a resume with mode=good continues the file

    def judge(self, items: Sequence[JudgeItem]) -> Iterator[Judgment] | None:
        self.calls += 1
        if self.config["mode"] == "returns-none":
            return None
        return self._judge(list(items))

    def _judge(self, items: list[JudgeItem]) -> Iterator[Judgment]:
        mode, call = self.config["mode"], self.calls
        if mode == "hang-first-batch" and call == 1 or mode == "hang":
            RELEASE.wait(30)
        for index, item in enumerate(items):
            wrong = self.returned == self.config["after"]
            if wrong and mode in FAILURES:
                FAILURES[mode]()
            judgment = good(item)
            if wrong and mode in INVALID:
                for key, value in INVALID[mode][0].items():
                    setattr(judgment, key, value)
            if mode == "missing" and item.order == "ba" or mode == "missing-once" and index % 2 and call == 1:
                continue
            self.returned += 1
            yield judgment
            if mode == "duplicates":
                yield good(item)
            if mode == "unknown":
                yield Judgment("not-asked", item.order, 0.5, "tie", "ok")
                yield Judgment(item.pair_id, "xy", 0.5, "tie", "ok")
                yield Judgment(["a", "list"], item.order, 0.5, "tie", "ok")  # type: ignore[arg-type]
                yield {"pair_id": item.pair_id, "order": item.order, "p_first": 0.5}  # type: ignore[misc]


def _raise(exc: BaseException) -> Callable[[], None]:
    def fail() -> None:
        raise exc

    return fail


FAILURES = {"raises": _raise(RuntimeError("the judge fell over")), "exits": lambda: sys.exit(3),
            "interrupts": _raise(KeyboardInterrupt())}


class Plugin:
    @hookimpl
    def register_evaluators(self, register: Callable[[type[Evaluator]], None]) -> None:
        register(Misbehaving)


@pytest.fixture
def cli(pm, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run the CLI in this process with the misbehaving evaluator registered."""
    import rlaif_audit.host as host
    from rlaif_audit.cli import build_cli

    pm.register(Plugin(), name=PLUGIN)
    monkeypatch.setattr(host, "get_plugin_manager", lambda load_entry_points=True: pm)

    def invoke(*args: Any) -> Any:
        return CliRunner().invoke(build_cli(), [str(a) for a in args])

    return invoke


def label_args(out: Path, mode: str, *extra: Any, data: str = "demo") -> list[Any]:
    return ["label", data, "-e", "misbehaving", "-O", f"mode={mode}", "-o", out, "-q", *extra]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_plugin_error(result: Any, what: str, kept: int) -> None:
    """Exit 1 with one line naming the evaluator, its plugin and the judgments kept; no traceback."""
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()
    assert len(message) == 1, result.stderr
    assert f"evaluator 'misbehaving' (plugin {PLUGIN}) failed: {what}" in message[0], message[0]
    assert f"{kept} judgments kept in" in message[0], message[0]


# --------------------------------------------------------------------------- an evaluator that raises or exits


@pytest.mark.parametrize("mode, what", [("raises", "RuntimeError: the judge fell over"),
                                        ("exits", "called sys.exit(3)"), ("interrupts", "KeyboardInterrupt")])
def test_evaluator_error_keeps_what_it_returned_and_the_file_resumes(cli, tmp_path: Path, mode: str,
                                                                     what: str) -> None:
    out = tmp_path / "j.jsonl"
    failed = cli(*label_args(out, mode))
    assert_plugin_error(failed, what, kept=10)
    kept = out.read_bytes()
    assert len(read_judgments(out)) == 10 and not (tmp_path / "j.jsonl.lock").exists()
    resumed = cli(*label_args(out, "good"))
    assert resumed.exit_code == 0, resumed.output
    assert "judgments: 48 (38 new" in resumed.stdout and out.read_bytes().startswith(kept)
    assert len(read_judgments(out)) == 48


def test_debug_flag_shows_the_traceback(cli, tmp_path: Path) -> None:
    result = cli("--debug", *label_args(tmp_path / "j.jsonl", "raises"))
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "RuntimeError: the judge fell over" in result.stderr


@pytest.mark.parametrize("mode, what", [("returns-none", "TypeError: judge() returned None"),
                                        ("identity-raises", "identity() raised RuntimeError: cannot tell who I am")])
def test_judge_returning_none_and_identity_raising_are_clean_errors(cli, tmp_path: Path, mode: str,
                                                                    what: str) -> None:
    out = tmp_path / "j.jsonl"
    result = cli(*label_args(out, mode))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert f"evaluator 'misbehaving' (plugin {PLUGIN}) failed: {what}" in result.stderr
    assert not out.exists() or out.read_text() == ""


# ------------------------------------------------------------------------ invalid judgments never poison the file


@pytest.mark.parametrize("mode", sorted(INVALID))
def test_invalid_judgment_is_written_as_failed_with_the_reason_and_the_file_resumes(cli, tmp_path: Path,
                                                                                    mode: str) -> None:
    out = tmp_path / "j.jsonl"
    result = cli(*label_args(out, mode))
    assert result.exit_code == 0, (result.output, result.exception)
    assert "invalid judgments (written as failed, with the reason): 1" in result.stdout
    frame = read_judgments(out)  # the file the reader accepts
    assert len(frame) == 48 and (frame.parse_status == "failed").sum() == 1
    refused = next(row for row in lines(out) if row["parse_status"] == "failed")
    assert (refused["p_first"], refused["verdict"]) == (None, None)
    assert INVALID[mode][1] in json.loads(refused["raw"])["invalid_judgment"], refused["raw"]
    again = cli(*label_args(out, "good"))
    assert again.exit_code == 0 and "judgments: 48 (0 new" in again.stdout, again.output


def test_numpy_numbers_are_written_as_plain_numbers(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    monkeypatch.setitem(INVALID, "numpy", (dict(p_first=np.float32(0.75), latency_s=np.float64(0.5)), ""))
    out = tmp_path / "j.jsonl"
    result = cli(*label_args(out, "numpy"))
    assert result.exit_code == 0 and "invalid judgments" not in result.stdout, result.output
    assert lines(out)[10]["p_first"] == 0.75 and lines(out)[10]["latency_s"] == 0.5


# ------------------------------------------------------------- what was not asked, twice, or not at all


def test_unknown_items_duplicates_and_non_judgments_are_rejected_at_the_boundary(cli, tmp_path: Path) -> None:
    for mode, counts in [("unknown", {"judgments for items not asked (rejected, not written)": 3 * 48,
                                      "returned objects that are not a Judgment (rejected, not written)": 48}),
                         ("duplicates", {"duplicate judgments (rejected, not written)": 48})]:
        out = tmp_path / f"{mode}.jsonl"
        result = cli(*label_args(out, mode))
        assert result.exit_code == 0, result.output
        for name, count in counts.items():
            assert f"{name}: {count}\n" in result.stdout, result.stdout
        frame = read_judgments(out)
        assert len(frame) == 48 and not frame.duplicated(["pair_id", "order"]).any()
        assert (frame.parse_status == "ok").all() and "not-asked" not in set(frame.pair_id)
        assert "misbehaved" in result.stderr


def test_missing_items_are_asked_again_then_written_as_failed(cli, tmp_path: Path) -> None:
    once = tmp_path / "once.jsonl"
    result = cli(*label_args(once, "missing-once"))
    assert result.exit_code == 0 and "missing judgments" not in result.stdout, result.output
    assert (read_judgments(once).parse_status == "ok").sum() == 48
    always = tmp_path / "always.jsonl"
    result = cli(*label_args(always, "missing"))
    assert result.exit_code == 0, result.output
    assert "missing judgments (asked twice, written as failed): 24" in result.stdout
    frame = read_judgments(always)
    assert len(frame) == 48 and (frame.parse_status == "failed").sum() == 24
    reasons = {json.loads(row["raw"]).get("error") for row in lines(always) if row["parse_status"] == "failed"}
    assert reasons == {"the evaluator returned no judgment for this item (asked twice)"}
    assert cli(*label_args(always, "good")).exit_code == 0


# ------------------------------------------------------------------------- kill -9, Ctrl-C (forked processes)


def _child(args: list[str], pm: Any) -> None:
    """In a forked child: run the CLI and exit with its code (never return into pytest)."""
    code = 1
    try:
        import rlaif_audit.host as host
        from rlaif_audit.cli import build_cli

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        host.get_plugin_manager = lambda load_entry_points=True: pm
        build_cli().main(args=args, prog_name="rlaif-audit")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os._exit(code)


def _fork(args: list[str], pm: Any) -> int:
    pid = os.fork()
    if pid == 0:
        _child(args, pm)
    return pid


def _wait(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.fixture(scope="module")
def big_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rlaif_audit.testing import write_synthetic_pairs

    return write_synthetic_pairs(tmp_path_factory.mktemp("pairs") / "pairs.jsonl", 600, seed=3)


def test_kill_9_at_random_moments_resumes_to_the_uninterrupted_file(pm, tmp_path: Path, big_pairs: Path) -> None:
    pm.register(Plugin(), name=PLUGIN)
    args = ["label", str(big_pairs), "-e", "misbehaving", "-q"]
    import rlaif_audit.host as host
    from rlaif_audit.cli import build_cli

    reference, timed = tmp_path / "reference.jsonl", tmp_path / "timed.jsonl"
    with pytest.MonkeyPatch.context() as patch:  # in this process first: the children start with warm imports
        patch.setattr(host, "get_plugin_manager", lambda load_entry_points=True: pm)
        assert CliRunner().invoke(build_cli(), [*args, "-o", str(reference)]).exit_code == 0
    started = time.monotonic()
    assert _wait(_fork([*args, "-o", str(timed)], pm)) == 0
    whole_s = time.monotonic() - started
    want = reference.read_bytes()
    assert timed.read_bytes() == want
    assert want.count(b"\n") == 1200
    rng = random.Random(13)
    mid_run = kills = chains = 0
    while mid_run < 20 and kills < 240:  # chains: from an empty file, kill at random moments until a run completes
        chains += 1
        out = tmp_path / f"killed-{chains}.jsonl"
        while True:
            pid = _fork([*args, "-o", str(out)], pm)
            time.sleep(rng.uniform(0.25 * whole_s, whole_s))  # the start writes nothing: aim past it
            os.kill(pid, signal.SIGKILL)
            code = _wait(pid)
            got = out.read_bytes() if out.exists() else b""
            assert want.startswith(got), f"kill {kills}: not a prefix of the uninterrupted file"
            if code == 0:
                break
            kills += 1
            mid_run += 0 < got.count(b"\n") < 1200
        assert _wait(_fork([*args, "-o", str(out)], pm)) == 0
        assert out.read_bytes() == want and not Path(str(out) + ".lock").exists()
    summary = f"{mid_run} of {kills} kills in {chains} chains landed mid-run (a run: {whole_s:.2f} s)"
    print(f"kill -9 proof: {summary}", file=sys.__stderr__)
    assert mid_run >= 20, summary


def test_ctrl_c_stops_cleanly_keeping_what_was_written(pm, tmp_path: Path, big_pairs: Path) -> None:
    pm.register(Plugin(), name=PLUGIN)
    args = ["label", str(big_pairs), "-e", "misbehaving", "-q"]
    reference, out = tmp_path / "reference.jsonl", tmp_path / "interrupted.jsonl"
    assert _wait(_fork([*args, "-o", str(reference)], pm)) == 0
    pid = _fork([*args, "-o", str(out)], pm)
    deadline = time.monotonic() + 60
    while (not out.exists() or out.read_bytes().count(b"\n") < 64) and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(pid, signal.SIGINT)
    assert _wait(pid) == 130
    got = out.read_bytes()
    assert got.endswith(b"\n") and reference.read_bytes().startswith(got) and got.count(b"\n") < 1200
    assert _wait(_fork([*args, "-o", str(out)], pm)) == 0 and out.read_bytes() == reference.read_bytes()


# --------------------------------------------------------------------------------------------- timeouts


def test_a_hanging_batch_times_out_as_failed_judgments_and_labeling_goes_on(cli, tmp_path: Path,
                                                                            big_pairs: Path) -> None:
    out = tmp_path / "j.jsonl"
    started = time.monotonic()
    result = cli(*label_args(out, "hang-first-batch", "--timeout", "0.5", "--limit", "100", data=str(big_pairs)))
    assert result.exit_code == 0, (result.output, result.exception)
    assert time.monotonic() - started < 20
    assert "judgments of timed-out batches (written as failed): 64" in result.stdout
    frame = read_judgments(out)
    assert len(frame) == 200 and (frame.parse_status == "failed").sum() == 64
    reasons = {json.loads(row["raw"])["error"] for row in lines(out) if row["parse_status"] == "failed"}
    assert reasons == {"timed out: the batch took more than 0.5 s"}


def test_an_evaluator_that_always_hangs_stops_after_three_timeouts(cli, tmp_path: Path, big_pairs: Path) -> None:
    out = tmp_path / "j.jsonl"
    result = cli(*label_args(out, "hang", "--timeout", "0.3", "--limit", "200", data=str(big_pairs)))
    assert_plugin_error(result, "3 batches in a row timed out", kept=192)
    assert len(read_judgments(out)) == 192
    RELEASE.set()


# ------------------------------------------------------------------------------- two label processes, one file


def test_a_second_label_process_on_the_same_file_refuses(tmp_path: Path) -> None:
    from http_judge_server import JudgeServer, Reply

    gate = threading.Event()

    def answer(prompt: str, attempt: int, body: dict) -> Reply:
        gate.wait(20)
        return Reply("A", {"A": -0.2, "B": -1.8})

    out = tmp_path / "j.jsonl"
    with JudgeServer(answer) as server:
        cmd = [sys.executable, "-m", "rlaif_audit.cli", "label", "demo", "-e", "openai", "-O", f"base_url={server.url}",
               "-O", "concurrency=1", "-o", str(out), "-q"]
        first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lock = Path(str(out) + ".lock")
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.02)
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        gate.set()
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert second.returncode == 2, second.stderr
    assert f"another process (pid {first.pid}) is writing this judgment file" in second.stderr
    assert "Traceback" not in second.stderr
    frame = read_judgments(out)
    assert len(frame) == 48 and out.read_bytes().count(b"\n") == 48 and not lock.exists()
