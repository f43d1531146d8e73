"""The ``openai`` evaluator: any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp, OpenAI) over HTTP."""

from __future__ import annotations

import json
import math
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from rlaif_audit import __version__, hookimpl
from rlaif_audit.errors import ConfigError, RlaifAuditError
from rlaif_audit.judging.evaluator import Evaluator, Option
from rlaif_audit.judging.rubric import (RUBRIC_OPTIONS, format_conversation, load_principles, load_template,
                                        principle_bullets)
from rlaif_audit.records.preference import P_FIRST_OF_VERDICT, verdict_from_p
from rlaif_audit.records.provenance import stable_hash
from rlaif_audit.records.types import JudgeItem, Judgment

LABELS = {"A": "first", "B": "second"}
LABEL_MASS_MIN = 0.5  # below this share of A+B in the first token's top_logprobs, the text is parsed instead
RETRY_STATUSES = {408, 409, 429}  # and every 5xx
ITEM_STATUSES = {400, 413, 422}  # the request of this one item was refused (e.g. prompt too long)
ITEM_PROBLEM = re.compile(r"context|too long|too large|token", re.I)  # refusals that are about the item itself
RETRY_AFTER_CAP_S = 300.0
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PREFIX = r"^[\s*#_\"'`(\[]*(?:(?i:response|answer|verdict|choice|output)\s*[:\-]?\s*)?[\s*_\"'`(\[]*"
_AFTER = r"(?=\s*$|[.,:;!)\]*_\"'`\n]|\s+(?:is|was|wins|because|better|[-–—])(?:\s|$))"
VERDICT_RE = re.compile(_PREFIX + r"([AB])" + _AFTER)


class EndpointError(RlaifAuditError):
    """The endpoint refused the whole job (bad URL, key, model) or stayed unavailable after every retry."""


class _Retryable(Exception):
    """A transient failure (429, 5xx, timeout, reset): try again after a pause."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _ItemRefused(Exception):
    """The server refused this one request (HTTP 400/413/422)."""


@dataclass
class _Reply:
    """One successful completion and how it was obtained."""

    response: dict[str, Any]
    attempts: int
    logprobs_requested: bool
    note: str = ""


def parse_verdict(text: str) -> str | None:
    """``"first"``/``"second"`` when the answer starts with the label A or B; ``None`` when it does not."""
    match = VERDICT_RE.match(text or "")
    return LABELS[match.group(1)] if match else None


def _label_of(token: str) -> str | None:
    cleaned = token.replace("Ġ", "").replace("▁", "").strip().strip("*_\"'`()[].:")
    return cleaned if cleaned in LABELS else None


class MalformedChoice(ValueError):
    """A 200 answer whose choice has the wrong shape: the item becomes a failed judgment with this reason."""


def _dict_or_fail(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedChoice(f"{where} is {type(value).__name__}, not an object")
    return value


def answer_text(choice: dict[str, Any]) -> str:
    """The answer's text (``message.content``); a MalformedChoice when the message or its content has another shape."""
    content = _dict_or_fail(choice.get("message"), "message").get("content")
    if content is not None and not isinstance(content, str):
        raise MalformedChoice(f"message.content is {type(content).__name__}, not a string")
    return content or ""


def first_token_logprobs(choice: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The top_logprobs of the first non-blank generated token of a chat choice; ``None`` when absent.

    A MalformedChoice when they are present but of the wrong shape (not lists of objects).
    """
    logprobs = choice.get("logprobs")
    if logprobs is None:
        return None
    content = _dict_or_fail(logprobs, "logprobs").get("content") or []
    if not isinstance(content, list):
        raise MalformedChoice(f"logprobs.content is {type(content).__name__}, not a list")
    for entry in content:
        entry = _dict_or_fail(entry, "an entry of logprobs.content")
        if str(entry.get("token", "")).strip():
            top = entry.get("top_logprobs") or []
            if not isinstance(top, list):
                raise MalformedChoice(f"top_logprobs is {type(top).__name__}, not a list")
            return [_dict_or_fail(alt, "an entry of top_logprobs") for alt in top]
    return None


def label_mass(top_logprobs: list[dict[str, Any]]) -> dict[str, float]:
    """Probability of the labels A and B among the alternatives (token variants like " A" summed).

    A MalformedChoice when a label's logprob is not a finite number ≤ 0 (a log-probability): never a guess.
    """
    mass = {"A": 0.0, "B": 0.0}
    for alternative in top_logprobs:
        label = _label_of(str(alternative.get("token", "")))
        logprob = alternative.get("logprob")
        if not label:
            continue
        if isinstance(logprob, bool) or not isinstance(logprob, (int, float)) or not -math.inf < logprob <= 0:
            raise MalformedChoice(f"the logprob of token {alternative.get('token')!r} is {logprob!r}, not a "
                                  "log-probability (a finite number ≤ 0)")
        mass[label] += math.exp(logprob)
    return mass


def judgment_fields(choice: dict[str, Any]) -> dict[str, Any]:
    """p_first, verdict, parse_status and the raw record of one chat choice.

    P(first) is A's share of the A+B probability of the first token when the
    server returned top_logprobs holding at least half their mass on A or B;
    otherwise the answer text is parsed (P = 1 or 0); an answer that does not
    start with A or B, or a choice of the wrong shape, is a failed judgment with
    P = None and the reason, never a guess.
    """
    try:
        return _fields(choice)
    except MalformedChoice as exc:
        raw = {"text": None, "method": "malformed", "error": f"the server's answer has the wrong shape: {exc}"}
        return {"p_first": None, "verdict": None, "parse_status": "failed", "raw": raw}


def _fields(choice: dict[str, Any]) -> dict[str, Any]:
    text = answer_text(choice)
    raw: dict[str, Any] = {"text": text, "finish_reason": choice.get("finish_reason")}
    top = first_token_logprobs(choice)
    if top is not None:
        mass = label_mass(top)
        raw["top_logprobs"] = {str(alt.get("token")): alt.get("logprob") for alt in top}
        if mass["A"] + mass["B"] >= LABEL_MASS_MIN:
            p_first = mass["A"] / (mass["A"] + mass["B"])
            raw["method"] = "logprobs"
            return {"p_first": p_first, "verdict": verdict_from_p(p_first), "parse_status": "ok", "raw": raw}
        raw["logprobs_note"] = f"A+B hold {mass['A'] + mass['B']:.3g} of the first token's mass; text parsed"
    verdict = parse_verdict(text)
    raw["method"] = "text" if verdict else "unparsed"
    if verdict is None:
        return {"p_first": None, "verdict": None, "parse_status": "failed", "raw": raw}
    return {"p_first": P_FIRST_OF_VERDICT[verdict], "verdict": verdict, "parse_status": "ok", "raw": raw}


def render_prompt(template: str, principles: list[str], item: JudgeItem) -> str:
    """The judge's user message: the template (``str.format`` slots) filled for one item."""
    return template.format(conversation=format_conversation(item.context), first=item.first, second=item.second,
                           principles=principle_bullets(principles))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)


class OpenAIJudge(Evaluator):
    """Judges pairs with a model served behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    name = "openai"
    description = (
        "Any OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server, OpenAI): P(first) from top_logprobs, "
        "a parsed A/B verdict otherwise; retries 429/5xx/timeouts; API key read from an environment variable."
    )
    options = {
        "base_url": Option("Endpoint base URL, up to and including /v1.", "http://localhost:8000/v1"),
        "model": Option("Model name sent to the server; unset: the first model the server lists at /models.", None),
        "api_key_env": Option("Name of the environment variable holding the API key (never stored).", "OPENAI_API_KEY"),
        **RUBRIC_OPTIONS,
        "concurrency": Option("Requests in flight at once.", 4, int),
        "max_retries": Option("Retries of one request on 429, 5xx, timeouts and dropped connections.", 5, int),
        "timeout": Option("Seconds to wait for one response.", 60.0, float),
        "backoff": Option("First retry pause in seconds; doubles each retry (Retry-After wins).", 1.0, float),
        "temperature": Option("Sampling temperature.", 0.0, float),
        "max_tokens": Option("Most tokens the judge may answer with.", 8, int),
        "logprobs": Option("Ask for top_logprobs: auto (use them when offered), on (require them), off.", "auto"),
        "top_logprobs": Option("Alternatives per token to ask for (1-20).", 5, int),
        "seed": Option("Sampling seed sent to the server (servers may ignore it).", None, int),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._check_config()
        self.template = load_template(self.config["template"])
        self.principles = load_principles(self.config["principles"])
        self._model: str | None = self.config["model"] or None
        self._lock = threading.Lock()
        self._logprobs_offered = True
        self._opener: Any = None
        self._evaluator_id = ""
        self._succeeded = False

    def _check_config(self) -> None:
        cfg = self.config
        if not ENV_NAME.match(str(cfg["api_key_env"] or "")):
            raise ConfigError("Option 'api_key_env' must be the NAME of an environment variable holding the key, "
                              "not the key itself")
        if not str(cfg["base_url"]).startswith(("http://", "https://")):
            raise ConfigError(f"Option 'base_url' must start with http:// or https://, got {cfg['base_url']!r}")
        if cfg["logprobs"] not in ("auto", "on", "off"):
            raise ConfigError(f"Option 'logprobs' must be one of auto, on, off; got {cfg['logprobs']!r}")
        for key, low in (("concurrency", 1), ("max_retries", 0), ("max_tokens", 1), ("top_logprobs", 1)):
            if cfg[key] < low:
                raise ConfigError(f"Option '{key}' must be at least {low}, got {cfg[key]}")
        if cfg["top_logprobs"] > 20 or cfg["timeout"] <= 0 or cfg["backoff"] < 0:
            raise ConfigError("Options need top_logprobs <= 20, timeout > 0 and backoff >= 0")

    def identity(self) -> dict[str, Any]:
        """Endpoint, model, template and decoding settings; never the API key."""
        cfg = self.config
        decoding = {key: cfg[key] for key in ("temperature", "max_tokens", "logprobs", "top_logprobs", "seed")}
        return {
            "evaluator": self.name,
            "base_url": cfg["base_url"].rstrip("/"),
            "model": self.model_name(),
            "template_sha256": stable_hash(self.template, length=64),
            "principles": self.principles,
            "decoding": decoding,
            "label_mass_min": LABEL_MASS_MIN,
            "versions": {"rlaif-audit": __version__},
        }

    def model_name(self) -> str:
        """The configured model, or the first one the server lists at ``/models`` (asked once)."""
        with self._lock:
            if self._model is None:
                self._model = self._listed_model()
            return self._model

    def _listed_model(self) -> str:
        try:
            listing = self._request("GET", "/models", None)
            return str(listing["data"][0]["id"])
        except (_Retryable, _ItemRefused, KeyError, IndexError, TypeError) as exc:
            raise ConfigError(f"Cannot ask {self.config['base_url']}/models which model it serves ({exc}); "
                              "set -O model=NAME") from exc

    def judge(self, items: Iterable[JudgeItem]) -> Iterator[Judgment]:
        """Judge items with at most ``concurrency`` requests in flight, yielding each judgment when it is ready."""
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        self._evaluator_id = self.identity_hash()
        stop = threading.Event()
        limit = self.config["concurrency"]
        pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="openai-judge")
        pending: set[Any] = set()
        try:
            for item in items:
                pending.add(pool.submit(self._judge_one, item, stop))
                if len(pending) >= 2 * limit:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from _results(done)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from _results(done)
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)

    def _judge_one(self, item: JudgeItem, stop: threading.Event) -> Judgment:
        started = time.perf_counter()
        prompt = render_prompt(self.template, self.principles, item)
        try:
            reply = self._complete(prompt, stop)
        except _ItemRefused as exc:
            return self._refused(item, exc, started)
        self._succeeded = True
        fields = judgment_fields(reply.response["choices"][0])
        fields["raw"].update({"attempts": reply.attempts, "logprobs_requested": reply.logprobs_requested})
        if reply.note:
            fields["raw"]["note"] = reply.note
        self._require_logprobs(fields["raw"], reply)
        return self._judgment(item, fields, started)

    def _refused(self, item: JudgeItem, exc: _ItemRefused, started: float) -> Judgment:
        """A failed judgment for a refused item; a refusal before any success is a setup problem and stops."""
        if not self._succeeded and not ITEM_PROBLEM.search(str(exc)):
            raise EndpointError(f"{self.config['base_url']} refused the first request ({exc}); check the "
                                "evaluator options (-O) against what the server accepts")
        raw = {"text": None, "method": "refused", "error": str(exc)}
        fields = {"p_first": None, "verdict": None, "parse_status": "failed", "raw": raw}
        return self._judgment(item, fields, started)

    def _judgment(self, item: JudgeItem, fields: dict[str, Any], started: float) -> Judgment:
        raw = self._redact(json.dumps(fields.pop("raw"), ensure_ascii=False))
        return Judgment(item.pair_id, item.order, raw=raw, latency_s=time.perf_counter() - started,
                        evaluator=self.name, evaluator_id=self._evaluator_id, **fields)

    def _require_logprobs(self, raw: dict[str, Any], reply: _Reply) -> None:
        if self.config["logprobs"] == "on" and "top_logprobs" not in raw:
            raise EndpointError(f"{self.config['base_url']} returned no logprobs but -O logprobs=on requires them; "
                                "use -O logprobs=auto to fall back to parsing the answer")
        if self.config["logprobs"] == "auto" and reply.logprobs_requested and "top_logprobs" not in raw:
            self._logprobs_offered = False  # the server ignores the request: stop asking

    def _complete(self, prompt: str, stop: threading.Event) -> _Reply:
        ask = self.config["logprobs"] == "on" or (self.config["logprobs"] == "auto" and self._logprobs_offered)
        try:
            response, attempts = self._post_with_retries(self._body(prompt, ask), stop)
            return _Reply(response, attempts, ask)
        except _ItemRefused as exc:
            if ask and self.config["logprobs"] == "on" and "logprob" in str(exc).lower():
                message = f"{self.config['base_url']} refused logprobs ({exc}); use -O logprobs=auto"
                raise EndpointError(message) from None
            if not ask or self.config["logprobs"] == "on":
                raise
            response, attempts = self._post_with_retries(self._body(prompt, False), stop)
            self._logprobs_offered = False  # refused with logprobs, accepted without
            return _Reply(response, attempts + 1, False, note=f"logprobs refused by the server: {exc}")

    def _body(self, prompt: str, logprobs: bool) -> dict[str, Any]:
        cfg = self.config
        body: dict[str, Any] = {
            "model": self.model_name(),
            "messages": [{"role": "user", "content": prompt}],
            "temperature": cfg["temperature"],
            "max_tokens": cfg["max_tokens"],
        }
        if logprobs:
            body.update(logprobs=True, top_logprobs=cfg["top_logprobs"])
        if cfg["seed"] is not None:
            body["seed"] = cfg["seed"]
        return body

    def _post_with_retries(self, body: dict[str, Any], stop: threading.Event) -> tuple[dict[str, Any], int]:
        """POST /chat/completions; pause and retry transient failures; return the response and attempts made."""
        for attempt in range(self.config["max_retries"] + 1):
            if stop.is_set():
                raise EndpointError("judging was stopped")
            try:
                return _completion(self._request("POST", "/chat/completions", body)), attempt + 1
            except _Retryable as exc:
                last = exc
                if attempt < self.config["max_retries"]:
                    stop.wait(self._pause(attempt, exc.retry_after))
        raise EndpointError(f"{self.config['base_url']}/chat/completions failed after "
                            f"{self.config['max_retries'] + 1} attempts; last error: {last}")

    def _pause(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return self.config["backoff"] * (2**attempt) * random.uniform(0.5, 1.0)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": f"rlaif-audit/{__version__}"}
        key = os.environ.get(self.config["api_key_env"], "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _redact(self, text: str) -> str:
        key = os.environ.get(self.config["api_key_env"], "")
        return text.replace(key, "[redacted]") if len(key) >= 4 else text

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """One HTTP exchange; failures are classified as retryable, item-level or fatal (EndpointError)."""
        import http.client
        import urllib.error
        import urllib.request

        url = self.config["base_url"].rstrip("/") + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method, headers=self._headers())
        try:
            with self._get_opener().open(request, timeout=self.config["timeout"]) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_failure(url, exc) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        except urllib.error.URLError as exc:
            transient = isinstance(exc.reason, (TimeoutError, ConnectionError))
            if transient and not isinstance(exc.reason, ConnectionRefusedError):
                raise _Retryable(f"{type(exc.reason).__name__}: {exc.reason}") from None
            raise EndpointError(f"Cannot connect to {url}: {exc.reason}. Is the server running?") from None
        return _json_object(payload, url)

    def _get_opener(self) -> Any:
        import urllib.request

        if self._opener is None:
            self._opener = urllib.request.build_opener()
        return self._opener

    def _http_failure(self, url: str, exc: Any) -> Exception:
        detail = self._redact(_error_text(exc))
        status = exc.code
        if status in RETRY_STATUSES or status >= 500:
            return _Retryable(f"HTTP {status}: {detail}", parse_retry_after(exc.headers.get("Retry-After")))
        if status in ITEM_STATUSES:
            return _ItemRefused(f"HTTP {status}: {detail}")
        hint = f" (check the key in ${self.config['api_key_env']})" if status in (401, 403) else ""
        return EndpointError(f"{url} answered HTTP {status}{hint}: {detail}")


def _error_text(exc: Any) -> str:
    try:
        blob = exc.read()[:2000].decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the error body is only a detail of the message
        return str(exc.reason)
    try:
        return str(json.loads(blob)["error"]["message"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return blob.strip()[:300] or str(exc.reason)


def _json_object(payload: bytes, url: str) -> dict[str, Any]:
    try:
        response = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, integers past 4300 digits, nested too deep
        raise _Retryable(f"{url} sent a body that is not JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(response, dict):
        raise _Retryable(f"{url} sent JSON that is not an object")
    return response


def _completion(response: dict[str, Any]) -> dict[str, Any]:
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _Retryable("the response holds no choices")
    return response


def _results(done: Iterable[Any]) -> Iterator[Judgment]:
    """Finished futures' judgments; an error is raised after the others are yielded."""
    done = list(done)
    yield from (future.result() for future in done if future.exception() is None)
    for future in done:
        if future.exception() is not None:
            raise future.exception()


@hookimpl
def register_evaluators(register: Any) -> None:
    """Register the ``openai`` evaluator."""
    register(OpenAIJudge)
