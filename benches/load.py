#!/usr/bin/env python3
"""Load test: N concurrent clients signing in, browsing, searching and chatting
against a running Hearth; reports the server's RSS before, at peak and after."""
import http.client, json, re, sys, threading, time, urllib.parse

host, port, pid, key = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
clients = int(sys.argv[5]) if len(sys.argv) > 5 else 200
rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 3

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
peak = [0]
stop = [False]
def watch():
    while not stop[0]:
        peak[0] = max(peak[0], rss()); time.sleep(0.2)

def conn():
    return http.client.HTTPConnection(host, port, timeout=120)

stats = {"ok": 0, "busy": 0, "other": 0, "error": 0}
lock = threading.Lock()
def count(status):
    with lock:
        if 200 <= status < 400: stats["ok"] += 1
        elif status in (429, 503): stats["busy"] += 1
        else: stats["other"] += 1

def sign_in():
    c = conn(); c.request("GET", "/login"); r = c.getresponse(); body = r.read().decode()
    cookies = "; ".join(h.split(";")[0] for k, h in r.getheaders() if k.lower() == "set-cookie")
    token = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    form = urllib.parse.urlencode({"csrf": token, "username": "olivia", "password": "correct horse battery staple"})
    c.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies, "Origin": f"http://{host}:{port}"})
    r = c.getresponse(); r.read(); count(r.status)

def api(method, path, body=None):
    c = conn(); headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = c.getresponse(); r.read(); count(r.status)

def client(i):
    try:
        import os
        mix = os.environ.get("MIX", "slac")
        for _ in range(rounds):
            if "s" in mix: sign_in()
            if "l" in mix: api("GET", "/api/v1/documents")
            if "q" in mix: api("GET", "/api/v1/search?q=policy+leave")
            if "c" in mix: api("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": f"Say hello to client {i}."}], "max_tokens": 16})
    except Exception as e:
        with lock: stats["error"] += 1

before = rss()
w = threading.Thread(target=watch); w.start()
started = time.time()
threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
took = time.time() - started
stop[0] = True; w.join()
time.sleep(20)
after = rss()
print(json.dumps({"clients": clients, "seconds": round(took, 1), "rss_before_mb": before, "rss_peak_mb": peak[0], "rss_20s_after_mb": after, **stats}))
