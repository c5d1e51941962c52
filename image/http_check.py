#!/usr/bin/env python3
"""What image/test.sh checks over HTTP on a booted Hearth box, as a person or
script on the office network would do it. Standard library only.

  http_check.py first  BASE STATE SETUP_CODE   set up, sign in, API key, chat, upload, search
  http_check.py setup  BASE STATE SETUP_CODE   the same without the (slow) chat
  http_check.py second BASE STATE              after a reboot: sign in, key, search again
  http_check.py update BASE STATE BUNDLE [STOP_AT]
                                               the owner uploads BUNDLE on Admin -> System
                                               and follows the updater until it restarts the
                                               box (or, with STOP_AT, until that phase)
  http_check.py system BASE STATE TEXT...      Admin -> System shows every TEXT

STATE is a JSON file the first run writes (account, API key, document) and
the second run reads. Every request has a timeout; any failure exits non-zero
with a one-line reason.
"""
import http.cookiejar
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

# Hearth refuses Host names it does not know; "localhost" is always allowed.
HOST = "localhost"
DOC_WORD = "quokkasaurus"  # an invented word: the search can only find our document


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


class Client:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.key = None

    def request(self, method, path, body=None, headers=None, timeout=60, ok=(200,)):
        headers = {"Host": HOST, **(headers or {})}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=body, headers=headers, method=method)
        try:
            resp = self.opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            resp = e
        if resp.status not in ok:
            fail(f"{method} {path}: HTTP {resp.status}: {resp.read()[:300]!r}")
        return resp

    def json(self, method, path, body=None, **kw):
        return json.loads(self.request(method, path, body, **kw).read())

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    def sign_in(self, username, password):
        """The browser's way: the pre-session cookie is the form's CSRF token."""
        self.request("GET", "/login")
        csrf = self.cookie("hearth_csrf")
        if not csrf:
            fail("GET /login set no hearth_csrf cookie")
        form = urllib.parse.urlencode(
            {"csrf": csrf, "username": username, "password": password, "next": "/"}).encode()
        self.request("POST", "/login", form,
                     {"Content-Type": "application/x-www-form-urlencoded"})
        if not self.cookie("hearth_session"):
            fail(f"signing in as {username} gave no session")

    def new_api_key(self):
        """A personal API key, made with the session (JSON + X-CSRF-Token)."""
        page = self.request("GET", "/").read().decode()
        marker = '<meta name="csrf-token" content="'
        if marker not in page:
            fail("no csrf-token on the home page after signing in")
        csrf = page.split(marker, 1)[1].split('"', 1)[0]
        created = self.json("POST", "/api/v1/me/api-keys", {"name": "image test"},
                            headers={"X-CSRF-Token": csrf}, ok=(201,))
        self.key = created["key"]
        return self.key

    def search(self, word):
        found = self.json("GET", "/api/v1/search?" + urllib.parse.urlencode({"q": word}))
        return [hit["file_name"] for hit in found.get("hits", [])]


def chat(client):
    """A short streamed answer from the local model via /v1/chat/completions."""
    t0 = time.monotonic()
    # A short system message of its own (instead of the office's longer
    # default instructions) and a few tokens: under emulation the model
    # reads about a token a second and writes one every five.
    resp = client.request("POST", "/v1/chat/completions", {
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Say hello."}],
        "stream": True, "max_tokens": 6,
    }, timeout=600)
    if "text/event-stream" not in resp.headers.get("Content-Type", ""):
        fail(f"chat: not a stream: {resp.headers.get('Content-Type')}")
    text, chunks, first, done = "", 0, None, False
    for raw in resp:
        line = raw.decode().strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        event = json.loads(data)
        for choice in event.get("choices", []):
            piece = (choice.get("delta") or {}).get("content") or ""
            if piece:
                chunks += 1
                first = first or time.monotonic() - t0
                text += piece
    if not done or not text.strip():
        fail(f"chat: stream ended without an answer (done={done}, text={text!r})")
    print(f"chat: {chunks} chunks, first after {first:.1f} s, all in "
          f"{time.monotonic() - t0:.1f} s: {text.strip()!r}")


def upload(client):
    name = "image-test-note.txt"
    content = (f"The office {DOC_WORD} is fed on Tuesdays.\n"
               "This note was uploaded by Hearth's OS image test.\n").encode()
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: text/plain\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    result = client.json("POST", "/api/v1/documents", body,
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                         ok=(201,))
    doc = result["results"][0].get("document") or fail(f"upload refused: {result}")
    deadline = time.monotonic() + 300
    while True:
        page = client.json("GET", f"/api/v1/documents?ids={doc['id']}")
        status = page["documents"][0]["status"]
        if status == "indexed":
            break
        if status == "failed" or time.monotonic() > deadline:
            fail(f"document {name} is {status}: {page['documents'][0].get('error_reason')}")
        time.sleep(2)
    deadline = time.monotonic() + 60
    while name not in client.search(DOC_WORD):  # the index may commit a moment later
        if time.monotonic() > deadline:
            fail(f"search for {DOC_WORD!r} does not find {name}")
        time.sleep(2)
    print(f"documents: {name} uploaded, indexed and found by search")
    return name


def first(base, state_path, code, with_chat=True):
    client = Client(base)
    account = {"username": "owner", "password": "correct-horse-battery-" + uuid.uuid4().hex[:8]}
    client.json("POST", "/api/v1/setup", {
        "setup_code": code, "business_name": "Image Test Ltd", "display_name": "Olive Owner",
        **account}, ok=(201,))
    print("setup: completed over the API")
    client.sign_in(account["username"], account["password"])
    print("sign-in: ok")
    key = client.new_api_key()
    if with_chat:
        chat(client)
    doc = upload(client)
    with open(state_path, "w") as f:
        json.dump({**account, "key": key, "document": doc}, f)


def second(base, state_path):
    with open(state_path) as f:
        state = json.load(f)
    client = Client(base)
    setup = client.request("POST", "/api/v1/setup", {
        "setup_code": "AAAA-AAAA-AAAA", "business_name": "Intruder", "display_name": "Intruder",
        "username": "intruder", "password": "intruder-password-123"}, ok=(400, 409))
    if setup.status != 409:
        fail(f"after reboot, setup is not complete (HTTP {setup.status})")
    client.sign_in(state["username"], state["password"])
    print("sign-in after reboot: ok (the account survived)")
    client.key = state["key"]
    if state["document"] not in client.search(DOC_WORD):
        fail(f"after reboot, search does not find {state['document']}")
    print(f"documents after reboot: {state['document']} still found (API key still valid)")


def csrf_of(client, path):
    page = client.request("GET", path).read().decode()
    marker = '<meta name="csrf-token" content="'
    if marker not in page:
        fail(f"no csrf-token on {path}")
    return page.split(marker, 1)[1].split('"', 1)[0]


def update(base, state_path, bundle, stop_at=None):
    """Uploads a bundle as the owner and follows the updater's progress."""
    with open(state_path) as f:
        state = json.load(f)
    client = Client(base)
    client.sign_in(state["username"], state["password"])
    csrf = csrf_of(client, "/admin/system")
    with open(bundle, "rb") as f:
        content = f.read()
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"bundle\"; "
            f"filename=\"{bundle.rsplit('/', 1)[-1]}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + \
        f"\r\n--{boundary}--\r\n".encode()
    t0 = time.monotonic()
    # Accepted: 303 back to the page (which urllib follows, so 200 here);
    # refused: the page again with 400 and the reason.
    client.request("POST", "/admin/system/update?csrf=" + urllib.parse.quote(csrf), body,
                   {"Content-Type": f"multipart/form-data; boundary={boundary}"},
                   timeout=900, ok=(200, 303))
    print(f"update: {len(content) >> 20} MiB bundle accepted in {time.monotonic() - t0:.0f} s")
    seen = None
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        try:
            progress = client.json("GET", "/admin/system/update/progress", timeout=10)
        except Exception:  # the box went down to restart
            progress = {"phase": "restarting", "percent": 100, "message": "(box restarting)"}
        phase = progress and progress["phase"]
        if (phase, progress and progress.get("percent")) != seen:
            seen = (phase, progress and progress.get("percent"))
            print(f"  {time.monotonic() - t0:6.0f} s  {phase} {progress.get('percent')}%  {progress.get('message')}")
        if phase == stop_at:
            return
        if phase == "failed" or (progress and progress.get("stalled")):
            fail(f"the update failed: {progress.get('message')}")
        if phase == "restarting":
            return
        time.sleep(1)
    fail("the updater did not finish within 30 minutes")


def system(base, state_path, *texts):
    with open(state_path) as f:
        state = json.load(f)
    client = Client(base)
    client.sign_in(state["username"], state["password"])
    page = client.request("GET", "/admin/system").read().decode()
    import html
    import re
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))
    for wanted in texts:
        if wanted not in text:
            fail(f"Admin -> System does not say {wanted!r}; it says: {text[:1500]}")
    print("Admin -> System says: " + "; ".join(repr(t) for t in texts))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "first":
        first(*sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "setup":
        first(*sys.argv[2:], with_chat=False)
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "update":
        update(*sys.argv[2:])
    elif len(sys.argv) >= 5 and sys.argv[1] == "system":
        system(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "second":
        second(*sys.argv[2:])
    else:
        sys.exit(__doc__)
