"""The ``openai`` evaluator against a real OpenAI-compatible HTTP server on loopback."""

from __future__ import annotations

import json
import math
import socket
import time
from pathlib import Path

import pytest
from http_judge_server import JudgeServer, Reply

from rlaif_audit.default_plugins.evaluators.openai_judge import EndpointError, OpenAIJudge, parse_verdict
from rlaif_audit.errors import ConfigError, InputError
from rlaif_audit.records.types import JudgeItem, PreferencePair

CONFIDENT = {"A": math.log(0.80), "B": math.log(0.15), "The": math.log(0.05)}
P_CONFIDENT = 0.80 / 0.95


def items(n: int, tag: str = "") -> list[JudgeItem]:
    """Each pair in both orders; the good response is 'good-<i>', the bad one 'bad-<i>'."""
    out = []
    for i in range(n):
        context = [{"role": "user", "content": f"question {tag}{i}?"}]
        out.append(JudgeItem(f"p{i}", "ab", context, f"good-{tag}{i}", f"bad-{tag}{i}"))
        out.append(JudgeItem(f"p{i}", "ba", context, f"bad-{tag}{i}", f"good-{tag}{i}"))
    return out


def good_first(prompt: str) -> bool:
    return prompt.index("good-") < prompt.index("bad-")


def prefer_good(prompt: str, attempt: int, body: dict) -> Reply:
    """A judge that prefers the 'good-' response with probability 0.8/0.95 from logprobs."""
    if good_first(prompt):
        return Reply("A", CONFIDENT)
    return Reply("B", {"B": CONFIDENT["A"], "A": CONFIDENT["B"], "The": CONFIDENT["The"]})


def judge_all(server: JudgeServer, batch: list[JudgeItem], **options) -> dict[tuple[str, str], object]:
    options = {"base_url": server.url, "backoff": 0.01, **options}
    judgments = list(OpenAIJudge(**options).judge(batch))
    assert len(judgments) == len(batch)
    return {(j.pair_id, j.order): j for j in judgments}


def test_registered_as_builtin_plugin(pm) -> None:
    from rlaif_audit.host import evaluators

    registry = evaluators(pm)
    assert registry.get("openai") is OpenAIJudge
    assert registry.items["openai"].plugin == "rlaif_audit.default_plugins.evaluators.openai_judge"


def test_p_first_from_top_logprobs_renormalised_over_a_and_b() -> None:
    with JudgeServer(prefer_good) as server:
        by_key = judge_all(server, items(3))
        body = server.chat_requests()[0].body
    for (pair_id, order), judgment in by_key.items():
        expected = P_CONFIDENT if order == "ab" else 1 - P_CONFIDENT
        assert judgment.p_first == pytest.approx(expected)
        assert judgment.verdict == ("first" if order == "ab" else "second")
        assert judgment.parse_status == "ok"
        assert json.loads(judgment.raw)["method"] == "logprobs"
        assert judgment.evaluator == "openai" and judgment.evaluator_id
    assert body["model"] == "judge-model"  # asked from /v1/models
    assert body["logprobs"] is True and body["top_logprobs"] == 5 and body["temperature"] == 0.0


def test_label_variants_in_top_logprobs_are_summed() -> None:
    top = {"A": math.log(0.4), " A": math.log(0.2), "B": math.log(0.3), "**": math.log(0.1)}
    with JudgeServer(lambda prompt, attempt, body: Reply("A", top)) as server:
        judgment = judge_all(server, items(1)[:1])[("p0", "ab")]
    assert judgment.p_first == pytest.approx(0.6 / 0.9)


def test_text_is_parsed_when_the_server_offers_no_logprobs() -> None:
    def answer(prompt: str, attempt: int, body: dict) -> Reply:
        return Reply("A. It answers the question." if good_first(prompt) else "B", CONFIDENT)

    with JudgeServer(answer, logprobs="ignore") as server:
        by_key = judge_all(server, items(3), concurrency=1)
        asked = [bool(seen.body.get("logprobs")) for seen in server.chat_requests()]
    assert {key: j.p_first for key, j in by_key.items()} == {
        (f"p{i}", order): (1.0 if order == "ab" else 0.0) for i in range(3) for order in ("ab", "ba")
    }
    assert all(json.loads(j.raw)["method"] == "text" for j in by_key.values())
    assert asked[0] and not any(asked[1:])  # auto mode stops asking once the server ignored the request


def test_server_refusing_logprobs_falls_back_to_text_in_auto_mode() -> None:
    with JudgeServer(prefer_good, logprobs="reject") as server:
        by_key = judge_all(server, items(2), concurrency=1)
        statuses = [seen.status for seen in server.chat_requests()]
    assert statuses == [400, 200, 200, 200, 200]  # one refusal, then never asked again
    first = by_key[("p0", "ab")]
    assert first.p_first == 1.0 and "logprobs refused" in json.loads(first.raw)["note"]
    assert by_key[("p0", "ba")].p_first == 0.0


@pytest.mark.parametrize("server_mode", ["ignore", "reject"])
def test_logprobs_on_requires_them(server_mode: str) -> None:
    with JudgeServer(prefer_good, logprobs=server_mode) as server:
        with pytest.raises(EndpointError, match="logprobs"):
            judge_all(server, items(1), logprobs="on")


def test_logprobs_off_never_asks() -> None:
    with JudgeServer(prefer_good) as server:
        by_key = judge_all(server, items(1), logprobs="off")
        assert not any("logprobs" in seen.body for seen in server.chat_requests())
    assert by_key[("p0", "ab")].p_first == 1.0


@pytest.mark.parametrize("text, top", [
    ("I think both responses are fine.", None),
    ("The first one.", {"The": -0.1, "I": -2.5}),
    ("A good answer would be B", None),
])
def test_unparseable_answer_is_a_failed_judgment_not_a_guess(text: str, top: dict | None) -> None:
    with JudgeServer(lambda prompt, attempt, body: Reply(text, top)) as server:
        judgment = judge_all(server, items(1)[:1])[("p0", "ab")]
    assert (judgment.parse_status, judgment.p_first, judgment.verdict) == ("failed", None, None)
    assert json.loads(judgment.raw)["text"] == text


def test_low_label_mass_in_logprobs_falls_back_to_the_text() -> None:
    top = {"**": math.log(0.9), "A": math.log(0.06), "B": math.log(0.04)}
    with JudgeServer(lambda prompt, attempt, body: Reply("**B**", top)) as server:
        judgment = judge_all(server, items(1)[:1])[("p0", "ab")]
    raw = json.loads(judgment.raw)
    assert (judgment.p_first, judgment.verdict, raw["method"]) == (0.0, "second", "text")


@pytest.mark.parametrize("text, verdict", [
    ("A", "first"), ("B.", "second"), ("**A**", "first"), ("Response B", "second"), ("Answer: A", "first"),
    ("A is better", "first"), ("(B) because", "second"), ("B\nIt is safer.", "second"), (" A ", "first"),
    ("Both are good", None), ("A good answer is B", None), ("", None), ("a", None), ("I choose A", None),
    ("AB", None), ("Tie", None),
])
def test_parse_verdict(text: str, verdict: str | None) -> None:
    assert parse_verdict(text) == verdict


def test_429_retry_after_is_honoured() -> None:
    def answer(prompt: str, attempt: int, body: dict) -> Reply:
        if "good-0" in prompt and attempt == 0:
            return Reply(status=429, headers={"Retry-After": "1"})
        return prefer_good(prompt, attempt, body)

    with JudgeServer(answer) as server:
        judgment = judge_all(server, items(1)[:1], backoff=0.001)[("p0", "ab")]
        seen = server.chat_requests()
    assert [s.status for s in seen] == [429, 200]
    assert seen[1].started - seen[0].finished >= 0.95  # waited the server's Retry-After, not the 1 ms backoff
    assert judgment.p_first == pytest.approx(P_CONFIDENT) and json.loads(judgment.raw)["attempts"] == 2


def test_5xx_is_retried_with_backoff_then_succeeds() -> None:
    def answer(prompt: str, attempt: int, body: dict) -> Reply:
        return Reply(status=500 if attempt < 2 else 200, text="A", top_logprobs=CONFIDENT)

    with JudgeServer(answer) as server:
        judgment = judge_all(server, items(1)[:1], backoff=0.05)[("p0", "ab")]
        seen = server.chat_requests()
    assert [s.status for s in seen] == [500, 500, 200]
    assert seen[2].started - seen[1].finished >= 0.05 * 2 * 0.5 - 0.01  # second pause: backoff·2·jitter ≥ 0.05 s
    assert judgment.parse_status == "ok" and json.loads(judgment.raw)["attempts"] == 3


def test_timeout_is_retried() -> None:
    def answer(prompt: str, attempt: int, body: dict) -> Reply:
        return Reply("A", CONFIDENT, delay_s=5.0 if attempt == 0 else 0.0)

    with JudgeServer(answer) as server:
        started = time.monotonic()
        judgment = judge_all(server, items(1)[:1], timeout=0.5)[("p0", "ab")]
        elapsed = time.monotonic() - started
        assert len(server.chat_requests()) == 2
    assert judgment.parse_status == "ok" and json.loads(judgment.raw)["attempts"] == 2
    assert 0.5 <= elapsed < 4.0


def test_retries_run_out_with_a_clear_error() -> None:
    with JudgeServer(lambda prompt, attempt, body: Reply(status=503)) as server:
        with pytest.raises(EndpointError, match="after 3 attempts.*HTTP 503"):
            judge_all(server, items(1)[:1], max_retries=2)
        assert len(server.chat_requests()) == 3


def test_item_refused_with_400_is_a_failed_judgment_and_the_rest_go_on() -> None:
    def answer(prompt: str, attempt: int, body: dict) -> Reply:
        return Reply(status=400) if "good-1" in prompt else prefer_good(prompt, attempt, body)

    with JudgeServer(answer) as server:
        by_key = judge_all(server, items(3), logprobs="off", concurrency=1)
    refused = by_key[("p1", "ab")]
    assert (refused.parse_status, refused.p_first, refused.verdict) == ("failed", None, None)
    assert json.loads(refused.raw)["method"] == "refused"
    assert [by_key[(f"p{i}", "ab")].parse_status for i in (0, 2)] == ["ok", "ok"]


def test_prompt_too_long_is_a_failed_judgment_even_first() -> None:
    too_long = "This model's maximum context length is 2048 tokens."

    def answer(prompt: str, attempt: int, body: dict) -> Reply:
        return Reply(status=400, message=too_long) if "good-0" in prompt else prefer_good(prompt, attempt, body)

    with JudgeServer(answer) as server:
        by_key = judge_all(server, items(2), concurrency=1)
    assert by_key[("p0", "ab")].parse_status == "failed" and too_long in json.loads(by_key[("p0", "ab")].raw)["error"]
    assert by_key[("p1", "ab")].parse_status == "ok"


def test_refusal_before_any_success_stops_as_a_setup_error() -> None:
    def answer(prompt: str, attempt: int, body: dict) -> Reply:
        return Reply(status=400, message="temperature must be at most 2")

    with JudgeServer(answer) as server:
        with pytest.raises(EndpointError, match="refused the first request.*temperature must be at most 2"):
            judge_all(server, items(2), temperature="5", logprobs="off")


def test_concurrency_limit_is_respected() -> None:
    def slow(prompt: str, attempt: int, body: dict) -> Reply:
        return Reply("A", CONFIDENT, delay_s=0.1)

    with JudgeServer(slow) as server:
        by_key = judge_all(server, items(10), concurrency=3)
        assert 2 <= server.max_in_flight <= 3
    assert len(by_key) == 20


def test_judge_streams_and_stops_submitting_when_the_consumer_stops() -> None:
    def slow(prompt: str, attempt: int, body: dict) -> Reply:
        return Reply("A", CONFIDENT, delay_s=0.05)

    with JudgeServer(slow) as server:
        stream = OpenAIJudge(base_url=server.url, concurrency=2).judge(iter(items(20)))
        first_two = [next(stream), next(stream)]
        stream.close()
        time.sleep(0.3)
        assert len(server.chat_requests()) <= 6  # never more than 2 × concurrency submitted ahead
    assert all(j.parse_status == "ok" for j in first_two)


def _pairs(n: int) -> list[PreferencePair]:
    return [PreferencePair(f"p{i}", [{"role": "user", "content": f"q{i}"}], f"good-{i}", f"bad-{i}") for i in range(n)]


def test_api_key_is_sent_but_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rlaif_audit.judging.labeling import label_pairs

    secret = "sk-test-9f8e7d6c5b4a"
    monkeypatch.setenv("JUDGE_TEST_KEY", secret)
    with JudgeServer(prefer_good, api_key=secret) as server:
        evaluator = OpenAIJudge(base_url=server.url, api_key_env="JUDGE_TEST_KEY")
        summary = label_pairs(evaluator, _pairs(3), tmp_path / "judgments.jsonl", progress=False)
        auth = {seen.headers.get("Authorization") for seen in server.chat_requests()}
    assert summary.new_judgments == 6 and summary.parse_failures == 0
    assert auth == {f"Bearer {secret}"}
    assert secret not in json.dumps(evaluator.identity()) and secret not in repr(evaluator.config)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not any(secret in p.read_text(encoding="utf-8") for p in written)


def test_wrong_key_stops_with_a_message_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGE_TEST_KEY", "sk-wrong-123456")
    with JudgeServer(prefer_good, api_key="sk-right-654321") as server:
        with pytest.raises((EndpointError, ConfigError)) as info:
            judge_all(server, items(1), api_key_env="JUDGE_TEST_KEY", model="judge-model")
    assert "401" in str(info.value) and "$JUDGE_TEST_KEY" in str(info.value)
    assert "sk-wrong-123456" not in str(info.value)


def test_api_key_env_must_be_a_variable_name_not_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        OpenAIJudge(api_key_env="sk-live-abc123")
    assert "sk-live-abc123" not in str(info.value) and "NAME of an environment variable" in str(info.value)


def test_connection_refused_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EndpointError, match="Cannot connect"):
        list(OpenAIJudge(base_url=f"http://127.0.0.1:{port}/v1", model="m").judge(items(1)))


def test_bundled_rubric_is_the_default_prompt() -> None:
    with JudgeServer(prefer_good) as server:
        judge_all(server, items(1)[:1])
        prompt = server.chat_requests()[0].prompt
    assert "Response A:\ngood-0\n\nResponse B:\nbad-0" in prompt and "User: question 0?" in prompt
    assert "- Prefer the response that is more helpful, honest and harmless." in prompt
    assert prompt.rstrip().endswith("A or B.")


def test_template_and_principles_files_are_used_and_checked(tmp_path: Path) -> None:
    template = tmp_path / "judge.txt"
    template.write_text("RUBRIC\n{principles}\nX={first}\nY={second}\n{{literal}} {conversation}\nSay A or B.\n")
    principles = tmp_path / "principles.txt"
    principles.write_text("# house rules\nBe fair.\n\nBe brief.\n", encoding="utf-8")
    item = JudgeItem("p0", "ab", [{"role": "user", "content": "{first} hi"}], "good-0", "bad-0")
    with JudgeServer(prefer_good) as server:
        judge_all(server, [item], template=str(template), principles=str(principles))
        prompt = server.chat_requests()[0].prompt
    assert prompt == "RUBRIC\n- Be fair.\n- Be brief.\nX=good-0\nY=bad-0\n{literal} User: {first} hi\nSay A or B."
    bad = tmp_path / "bad.txt"
    bad.write_text("only {first} and {conversation}", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.txt.*template.*missing slot.*second"):
        OpenAIJudge(template=str(bad))
    bad.write_text("{first} {second} {conversation} {answer}", encoding="utf-8")
    with pytest.raises(InputError, match=r"unknown slot.*answer"):
        OpenAIJudge(template=str(bad))
    with pytest.raises(InputError, match=r"missing\.txt.*principles"):
        OpenAIJudge(principles=str(tmp_path / "missing.txt"))


def test_identity_tracks_what_changes_verdicts_only(tmp_path: Path) -> None:
    def ident(**options) -> str:
        return OpenAIJudge(**{"model": "m", **options}).identity_hash()

    template = tmp_path / "t.txt"
    template.write_text("{conversation}\n{first} vs {second}: A or B?", encoding="utf-8")
    principles = tmp_path / "p.txt"
    principles.write_text("Be brief.", encoding="utf-8")
    base = ident()
    assert ident(concurrency="16", max_retries="1", timeout="5", backoff="0") == base
    changed = [ident(model="m2"), ident(temperature="0.7"), ident(template=str(template)),
               ident(principles=str(principles)), ident(base_url="http://other:8000/v1"), ident(logprobs="off")]
    assert len({base, *changed}) == 1 + len(changed)


def test_label_command_with_openai_evaluator_writes_and_resumes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from rlaif_audit.cli import build_cli

    out = tmp_path / "judgments.jsonl"
    args = ["label", "demo", "--limit", "4", "-e", "openai", "-O", "concurrency=2", "-o", str(out), "-q"]
    with JudgeServer(lambda prompt, attempt, body: Reply("B", {"A": math.log(0.3), "B": math.log(0.7)})) as server:
        first = CliRunner().invoke(build_cli(), [*args, "-O", f"base_url={server.url}"])
        requests_after_first = len(server.chat_requests())
        again = CliRunner().invoke(build_cli(), [*args, "-O", f"base_url={server.url}"])
        requests_after_again = len(server.chat_requests())
    assert first.exit_code == 0, first.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 8 == requests_after_first
    assert {(r["evaluator"], r["parse_status"]) for r in records} == {("openai", "ok")}
    assert all(r["p_first"] == pytest.approx(0.3) for r in records)
    assert again.exit_code == 0 and "0 new" in again.output and requests_after_again == requests_after_first


def test_retry_after_header_forms() -> None:
    from email.utils import formatdate

    from rlaif_audit.default_plugins.evaluators.openai_judge import parse_retry_after

    assert parse_retry_after("2") == 2.0 and parse_retry_after("0.5") == 0.5
    assert 8.0 <= parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10.0
    assert parse_retry_after("86400") == 300.0  # capped
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


WRONG_SHAPES = {  # HTTP-200 answers of the wrong shape: each must be a failed judgment with the reason
    "message a string": {"message": "A", "finish_reason": "stop"},
    "content a list": {"message": {"role": "assistant", "content": [{"type": "text", "text": "A"}]}},
    "logprob of 1000": {"message": {"role": "assistant", "content": "A"},
                        "logprobs": {"content": [{"token": "A", "logprob": 0.0,
                                                  "top_logprobs": [{"token": "A", "logprob": 1000}]}]}},
    "logprob NaN": {"message": {"role": "assistant", "content": "A"},
                    "logprobs": {"content": [{"token": "A", "logprob": 0.0,
                                              "top_logprobs": [{"token": "B", "logprob": float("nan")}]}]}},
    "logprob -inf": {"message": {"role": "assistant", "content": "A"},
                     "logprobs": {"content": [{"token": "A", "logprob": 0.0,
                                               "top_logprobs": [{"token": "A", "logprob": float("-inf")},
                                                                {"token": "B", "logprob": -0.1}]}]}},
    "logprob inf": {"message": {"role": "assistant", "content": "B"},
                    "logprobs": {"content": [{"token": "B", "logprob": 0.0,
                                              "top_logprobs": [{"token": "B", "logprob": float("inf")}]}]}},
    "logprob a huge integer": {"message": {"role": "assistant", "content": "A"},
                               "logprobs": {"content": [{"token": "A", "top_logprobs": [{"token": "A",
                                                                                         "logprob": 10**400}]}]}},
    "logprob a string": {"message": {"role": "assistant", "content": "A"},
                         "logprobs": {"content": [{"token": "A", "top_logprobs": [{"token": "A", "logprob": "-0.1"}]}]}},
    "message missing": {"finish_reason": "stop"},
    "logprobs a string": {"message": {"role": "assistant", "content": "A"}, "logprobs": "A=-0.1"},
    "top_logprobs an object": {"message": {"role": "assistant", "content": "A"},
                               "logprobs": {"content": [{"token": "A", "top_logprobs": {"A": -0.1}}]}},
    "content entry a number": {"message": {"role": "assistant", "content": "A"}, "logprobs": {"content": [3]}},
}


@pytest.mark.parametrize("shape", sorted(WRONG_SHAPES))
def test_wrong_shape_200_answer_is_a_failed_judgment_with_the_reason(shape: str) -> None:
    choice = WRONG_SHAPES[shape]
    with JudgeServer(lambda prompt, attempt, body: Reply(choice=choice)) as server:
        by_key = judge_all(server, items(1))
    for judgment in by_key.values():
        raw = json.loads(judgment.raw)
        assert (judgment.parse_status, judgment.p_first, judgment.verdict) == ("failed", None, None), shape
        assert raw["method"] == "malformed" and "wrong shape" in raw["error"], raw


def test_misbehaving_server_through_label_gives_failed_judgments_and_never_writes_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every wrong-shape answer, a refusal and a 5xx that echo the key, and an answer quoting it, through `label`:
    exit 0, each wrong shape a failed judgment with the reason (never a guess), the key in no file and no output."""
    from click.testing import CliRunner

    from rlaif_audit.cli import build_cli
    from rlaif_audit.records.fileio import write_jsonl

    secret = "sk-echoed-5f4e3d2c1b0a"
    monkeypatch.setenv("JUDGE_TEST_KEY", secret)
    shapes = sorted(WRONG_SHAPES)
    special = {"refused": Reply(status=400, message=f"context too long for key {secret}"),
               "quoted": Reply(f"A. Your key is {secret}", None)}
    names = shapes + sorted(special) + ["flaky", "fine"]
    write_jsonl(tmp_path / "pairs.jsonl", [{"id": name, "context": [{"role": "user", "content": f"q-{name}?"}],
                                            "a": f"good-{name}", "b": f"bad-{name}"} for name in names])

    def answer(prompt: str, attempt: int, body: dict) -> Reply:
        name = next(n for n in names if f"q-{n}?" in prompt)
        if name in WRONG_SHAPES:
            return Reply(choice=json.loads(json.dumps(WRONG_SHAPES[name])))
        if name == "flaky" and attempt == 0:
            return Reply(status=500, message=f"upstream saw key {secret}")
        return special.get(name) or prefer_good(prompt, attempt, body)

    out = tmp_path / "out" / "judgments.jsonl"
    with JudgeServer(answer, api_key=secret) as server:
        result = CliRunner().invoke(build_cli(), [
            "label", str(tmp_path / "pairs.jsonl"), "-e", "openai", "-O", f"base_url={server.url}",
            "-O", "api_key_env=JUDGE_TEST_KEY", "-O", "backoff=0.01", "-O", "concurrency=2", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and secret not in result.output
    records = {(r["pair_id"], r["order"]): r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert len(records) == 2 * len(names)
    for (name, order), record in records.items():
        raw = json.loads(record["raw"])
        if name in WRONG_SHAPES:
            assert (record["parse_status"], record["p_first"], record["verdict"]) == ("failed", None, None), name
            assert raw["method"] == "malformed" and "wrong shape" in raw["error"], (name, raw)
        elif name == "refused":
            assert record["parse_status"] == "failed" and "[redacted]" in raw["error"]
        else:
            assert record["parse_status"] == "ok" and 0 <= record["p_first"] <= 1, (name, record)
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert {path.name for path in written} >= {"judgments.jsonl", "judgments.jsonl.identity.json"}
    assert not any(secret.encode() in path.read_bytes() for path in written)


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"choices": [\xff\xfe]}',
                                  b'{"choices": [{"message": {"content": "A"}, "index": ' + b"9" * 5000 + b"}]}"],
                         ids=["deeply nested", "not UTF-8", "5000-digit integer"])
def test_a_200_body_that_is_not_readable_json_is_a_clean_endpoint_error(body: bytes) -> None:
    with JudgeServer(lambda prompt, attempt, body_: Reply(body=body)) as server:
        with pytest.raises(EndpointError, match="not JSON"):
            judge_all(server, items(1)[:1], max_retries=1, model="m")


@pytest.mark.parametrize("status", [400, 401, 503])
def test_an_error_body_nested_too_deep_is_still_a_clean_error(status: int) -> None:
    deep = b'{"error": ' + b"[" * 1990 + b"]" * 1990 + b"}"
    with JudgeServer(lambda prompt, attempt, body_: Reply(status=status, body=deep)) as server:
        with pytest.raises(EndpointError, match=f"HTTP {status}"):
            judge_all(server, items(1)[:1], max_retries=0, model="m", logprobs="off")
