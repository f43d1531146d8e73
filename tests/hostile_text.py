"""Hostile text for report tests: payloads that would change ``document.title`` if they ever ran, hidden characters,
Markdown links, megabyte strings; and a pairs file carrying them in every field a report shows."""

from __future__ import annotations

import json
from pathlib import Path

PWNED = "pwned"
SCRIPT = f'<script>document.title="{PWNED}"</script>'
EVENTS = (f'<img src=x onerror="document.title=\'{PWNED}\'"><svg onload="document.title=\'{PWNED}\'">'
          f'<body onpageshow="document.title=\'{PWNED}\'">')
STYLE_BREAK = f'</style><style>body{{background:url(javascript:alert(1))}}</style></title><script>document.title="{PWNED}"</script>'
JS_LINKS = ('[click me](javascript:document.title="pwned") ![pixel](https://tracker.example/p.png) [ref]: '
            'javascript:alert(1) <a href="javascript:alert(1)">x</a> <javascript:alert(1)>')
HIDDEN = "safe\u202eevil\u202c \u200bzero\u200dwidth \u2066iso\u2069 \ufeffbom \U000e0041\U000e0042tags \u200f \x1b[31mred\x1b[0m"
MEGABYTE = "m" * 1_000_000
EVERYTHING = " ".join((SCRIPT, EVENTS, STYLE_BREAK, JS_LINKS, HIDDEN))


def write_hostile_pairs(path: Path, n: int = 24) -> Path:
    """Native pairs with human preferences whose ids, prompts, responses, generator names and metadata are hostile."""
    generators = (f"gen {EVERYTHING}", "gen-b " + HIDDEN)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            gen_a, gen_b = generators if i % 2 else generators[::-1]
            row = {"id": f"p{i} {SCRIPT}", "prompt": f"{EVERYTHING} {MEGABYTE if i % 6 == 0 else ''}",
                   "a": f"answer {i} {EVERYTHING} " + "a" * (37 * i) + (MEGABYTE if i % 4 == 1 else ""),
                   "b": f"reply {i} {EVERYTHING} " + "b" * (29 * (n - i)),
                   "preferred": "a" if i % 3 else "b",
                   "metadata": {"generator_a": gen_a, "generator_b": gen_b, "category": f"cat {i % 2} {EVERYTHING}"}}
            handle.write(json.dumps(row) + "\n")
    return path
