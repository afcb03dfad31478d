"""The published Maniac Python client (PyPI `maniac`, 0.4 and 0.5) against a self-hosted gateway.

    MANIAC_API_KEY=<key> MANIAC_BASE_URL=http://127.0.0.1:8080 python examples/python/maniac_client.py

Creates a container, chats through `maniac:<label>` (plain and streamed), registers examples, lists what went
through, and reads the container back with its counters. The client is used unmodified: it sends
`Authorization: Bearer`, paths under `/v1` (0.5) or `/api/v1` (0.4), and the field names it was generated with.
Exits non-zero on the first thing that does not work.
"""

from __future__ import annotations

import json
import os
import sys
import time

import maniac
from maniac import Maniac

VERSION = maniac.__version__
MODEL = os.environ.get("EXAMPLE_MODEL", "openai/gpt-4o-mini")


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def poll(fn, what: str, timeout: float = 30.0):
    """Calls fn until it returns something truthy, or fails after the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            check(False, f"{what} (within {timeout:.0f} s)")
        time.sleep(0.2)


def unwrap(container: dict) -> dict:
    # Published client versions read a container from the body or from response["data"]: the gateway sends both.
    return container.get("data", container)


def main() -> None:
    client = Maniac()
    label = f"py-{VERSION.replace('.', '-')}-{int(time.time() * 1000) % 10_000_000}"
    print(f"maniac {VERSION} against {client._client.base_url}, container {label}")

    created = client.containers.create(
        label=label,
        initial_model=MODEL,
        default_system_prompt="Answer in one sentence.",
        default_parameters={"temperature": 0.2},
    )
    check(unwrap(created)["label"] == label and created["label"] == label, "containers.create")
    check(created["default_parameters"] == {"temperature": 0.2}, "default_parameters stored")
    again = client.containers.create(label=label, initial_model=MODEL)
    check(again["id"] == created["id"], "containers.create is get-or-create")
    check(unwrap(client.containers.retrieve(label))["id"] == created["id"], "containers.retrieve")
    listed = client.containers.list(limit=100, offset=0)
    check(any(c["label"] == label for c in listed["data"]), "containers.list")

    # Chat through the container.
    reply = client.chat.completions.create(
        model=f"maniac:{label}",
        messages=[{"role": "user", "content": "Say hello."}],
        tags=["example"],
        metadata={"client": "python", "version": VERSION},
    )
    check(reply["container"] == label and bool(reply["choices"][0]["message"]["content"]), "chat (maniac:<label>)")

    pieces = []
    done = False
    for data in client.chat.completions.create(
        model=f"maniac:{label}", messages=[{"role": "user", "content": "Stream a hello."}], stream=True
    ):
        if data == "[DONE]":
            done = True
            break
        chunk = json.loads(data)
        if "error" in chunk:
            check(False, f"stream without an error frame: {chunk['error']}")
        for choice in chunk.get("choices", []):
            pieces.append(choice.get("delta", {}).get("content") or "")
    check(done and len("".join(pieces)) > 0, "chat streamed (SSE, ends with [DONE])")

    if VERSION.startswith("0.4"):
        # 0.4 can name the container in a field of its own instead of the model slug.
        by_field = client.chat.completions.create(
            messages=[{"role": "user", "content": "Hello by field."}], container=label
        )
        check(by_field["container"] == label, "chat with container=<label> (0.4)")

    registered = client.chat.completions.register(
        container=label,
        items=[
            {
                "input": {"messages": [{"role": "user", "content": f"example {i}"}]},
                "output": {
                    "id": f"{label}-example-{i}",
                    "choices": [{"message": {"role": "assistant", "content": f"answer {i}"}}],
                },
                "tags": ["registered"],
            }
            for i in range(3)
        ],
    )
    check(registered["ok"] and registered["summary"]["inserted"] == 3, "chat.completions.register")

    completions = 3 if VERSION.startswith("0.4") else 2
    page = poll(
        lambda: (lambda p: p if p["total"] >= completions + 3 else None)(
            client.chat.completions.list(container=label, limit=100)
        ),
        "chat.completions.list shows the completions and the registered examples",
    )
    check(any(item["id"] == reply["id"] for item in page["data"]), "chat.completions.list")
    # With a metadata filter the client sends a JSON body on GET: accepted (the list does not filter on it).
    check(client.chat.completions.list(container=label, metadata={"client": "python"})["total"] >= 1, "list with metadata")
    one = client.chat.completions.retrieve(reply["id"])
    check(one["id"] == reply["id"] and one["container"] == label, "chat.completions.retrieve")

    stats = poll(
        lambda: (lambda s: s if s and s["completions"] >= completions and s["registered_examples"] == 3 else None)(
            unwrap(client.containers.retrieve(label)).get("stats")
        ),
        "container counters",
    )
    print(f"   counters: {stats}")

    models = client.models.list(limit=1000)
    check(any(m["id"] == f"maniac:{label}" for m in models["data"]), "models.list shows maniac:<label>")

    if hasattr(client.containers, "update"):
        updated = client.containers.update(label, default_system_prompt="Answer in two sentences.")
        check(updated["system_prompt"] == "Answer in two sentences.", "containers.update (0.5)")
        only = client.models.list(container=label)
        check(only["data"][0]["id"] == f"maniac:{label}", "models.list(container=...) (0.5)")

    deleted = client.containers.delete(label)
    check(deleted["deleted"] is True and deleted["label"] == label, "containers.delete")
    print(f"maniac {VERSION}: all checks passed")


if __name__ == "__main__":
    main()
