"""Drives Hearth's /v1 API with the official OpenAI Python client, unchanged.

Usage: python3 openai_client.py BASE_URL API_KEY
Prints one line per check and exits non-zero on the first failure.
"""
import sys

import openai

base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)

models = [m.id for m in client.models.list()]
assert models, "no models listed"
print("models:", models)

reply = client.chat.completions.create(
    model=models[0],
    messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a fruit."}],
    max_tokens=16,
    temperature=0,
)
assert reply.choices[0].message.role == "assistant"
assert reply.choices[0].message.content
assert reply.choices[0].finish_reason in ("stop", "length")
assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
print("completion:", repr(reply.choices[0].message.content), reply.usage)

stream = client.chat.completions.create(
    model=models[0],
    messages=[{"role": "user", "content": "Say hello."}],
    max_tokens=12,
    stream=True,
    stream_options={"include_usage": True},
)
parts, usage, finish = [], None, None
for chunk in stream:
    if chunk.choices:
        if chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        if chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    if chunk.usage:
        usage = chunk.usage
assert parts and finish and usage and usage.completion_tokens >= 1
print("stream:", repr("".join(parts)), finish, usage)

try:
    openai.OpenAI(base_url=base, api_key="hth_not-a-key", max_retries=0).models.list()
    raise SystemExit("a wrong key was accepted")
except openai.AuthenticationError as err:
    print("wrong key refused:", err.status_code)

try:
    client.chat.completions.create(model=models[0], messages=[], max_tokens=4)
    raise SystemExit("an empty conversation was accepted")
except openai.BadRequestError as err:
    print("bad request refused:", err.status_code)
print("ok")
