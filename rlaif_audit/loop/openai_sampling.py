"""The generate stage on an OpenAI-compatible server (e.g. `vllm serve`): one seeded chat completion per candidate."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

from rlaif_audit.errors import ConfigError, RlaifAuditError
from rlaif_audit.loop.prompts import messages

API_KEY_ENV = "RLAIF_AUDIT_SAMPLING_API_KEY"
RETRIES = 3
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class SamplingServerError(RlaifAuditError):
    """The sampling server failed or answered something that is not a chat completion."""


class OpenAISampler:
    """Chat completions from ``base_url``; candidate ``index`` of prompt ``p`` is requested with seed ``seed + …``."""

    def __init__(self, base_url: str, model: str = "", *, concurrency: int = 16, timeout_s: float = 600.0) -> None:
        if not base_url:
            raise ConfigError("sampling_engine = 'openai' needs sampling_base_url (e.g. http://localhost:8000/v1)")
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.model = model or self._listed_model()

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(API_KEY_ENV)
        return {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One HTTP exchange, retried on connection errors and retryable statuses; the parsed JSON answer."""
        import urllib.error
        import urllib.request

        url, data = f"{self.base_url}{path}", json.dumps(body).encode() if body is not None else None
        for attempt in range(RETRIES + 1):
            request = urllib.request.Request(url, data=data, method=method, headers=self._headers())
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                    return json.loads(answer.read())
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUS or attempt == RETRIES:
                    raise SamplingServerError(f"{url}: HTTP {exc.code}: {exc.read()[:300]!r}") from exc
            except (urllib.error.URLError, OSError, ValueError) as exc:
                if attempt == RETRIES:
                    raise SamplingServerError(f"{url}: {exc}") from exc
            time.sleep(0.5 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _listed_model(self) -> str:
        """The first model the server lists (vLLM serves one)."""
        listed = self._request("GET", "/models").get("data") or []
        if not listed or "id" not in listed[0]:
            raise SamplingServerError(f"{self.base_url}/models lists no model; set sampling_model")
        return str(listed[0]["id"])

    def _complete(self, prompt: str, seed: int, temperature: float, top_p: float, max_new_tokens: int) -> str:
        body = {"model": self.model, "messages": messages(prompt), "n": 1, "temperature": temperature,
                "top_p": top_p, "max_tokens": max_new_tokens, "seed": seed}
        answer = self._request("POST", "/chat/completions", body)
        try:
            return str(answer["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError) as exc:
            raise SamplingServerError(f"{self.base_url}/chat/completions: no choices[0].message.content in "
                                      f"{json.dumps(answer)[:300]}") from exc

    def texts(self, prompts: Sequence[str], n: int, *, temperature: float, top_p: float, max_new_tokens: int,
              seed: int) -> list[list[str]]:
        """``n`` response texts per prompt; request (prompt i, candidate j) carries seed ``seed·1_000_003 + i·n + j``."""
        from concurrent.futures import ThreadPoolExecutor

        jobs = [(i, j) for i in range(len(prompts)) for j in range(n)]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            answers = list(pool.map(lambda job: self._complete(prompts[job[0]], seed * 1_000_003 + job[0] * n + job[1],
                                                               temperature, top_p, max_new_tokens), jobs))
        return [answers[i * n:(i + 1) * n] for i in range(len(prompts))]


def server_responses(sampler: OpenAISampler, tokenizer: Any, prompts: Sequence[str], n: int, *, temperature: float,
                     top_p: float, max_new_tokens: int, seed: int) -> list[list[list[int]]]:
    """The server's responses as the policy tokenizer's ids (as the local engines return them)."""
    texts = sampler.texts(prompts, n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
    return [[tokenizer.encode(text.strip(), add_special_tokens=False) for text in group] for group in texts]
