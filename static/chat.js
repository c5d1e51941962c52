// The chat page's streaming: sends the message with fetch, reads the
// answer as server-sent events from the same response, and shows it as it
// is written. The HTML of answers is sanitised on the server; this script
// only ever inserts that HTML or plain text. Without this script the form
// still works: the server waits for the whole answer and shows the page.
"use strict";

(() => {
  const form = document.getElementById("composer");
  if (!form || !window.fetch || !window.ReadableStream) return;
  const textarea = document.getElementById("content");
  const sendButton = document.getElementById("send");
  const stopButton = document.getElementById("stop");
  const statusLine = document.getElementById("queue-status");
  const list = document.getElementById("messages");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let controller = null;
  let stopUrl = null;

  function stopUrlFor(action) {
    const match = action.match(/\/chat\/(\d+)\//);
    return match ? `/chat/${match[1]}/stop` : null;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Lists a conversation the first message just created at the top of the
  // sidebar (the server titles it with the message; a reload shows the
  // title the model picks later).
  function listNewConversation(url, content) {
    const sidebar = document.querySelector(".chat-sidebar");
    if (!sidebar) return;
    let conversations = document.getElementById("conversation-list");
    if (!conversations) {
      conversations = element("ul", "conversation-list");
      conversations.id = "conversation-list";
      const empty = sidebar.querySelector(":scope > p");
      if (empty) empty.replaceWith(conversations);
      else sidebar.append(conversations);
    }
    for (const current of conversations.querySelectorAll('a[aria-current="page"]')) {
      current.removeAttribute("aria-current");
    }
    const link = element("a", "", content.split(/\s+/).join(" "));
    link.href = url;
    link.setAttribute("aria-current", "page");
    const item = element("li");
    item.append(link);
    conversations.prepend(item);
  }

  function scrollToEnd() {
    const last = list.lastElementChild;
    if (last) last.scrollIntoView({ block: "end", behavior: "smooth" });
  }

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.hidden = !busy;
    textarea.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function showError(container, message) {
    const error = element("p", "error", message);
    error.setAttribute("role", "alert");
    container.replaceChildren(error);
  }

  // Parses a text/event-stream body and calls onEvent(name, data) per event.
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let boundary;
      while ((boundary = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(name, data.join("\n"));
      }
    }
  }

  function queueText(ahead) {
    if (ahead === 0) return "You are next.";
    if (ahead === 1) return "1 person ahead of you.";
    return `${ahead} people ahead of you.`;
  }

  async function send(content) {
    const welcome = document.getElementById("chat-welcome");
    if (welcome) welcome.remove();
    const oldError = document.getElementById("chat-error");
    if (oldError) oldError.remove();

    const userItem = element("li", "message from-user");
    userItem.append(element("div", "bubble", content));
    const answerItem = element("li", "message from-assistant pending");
    const bubble = element("div", "bubble answer");
    bubble.append(element("span", "thinking", "Thinking…"));
    const meta = element("p", "meta");
    answerItem.append(bubble, meta);
    list.append(userItem, answerItem);
    scrollToEnd();

    setBusy(true);
    const ownController = new AbortController();
    controller = ownController;
    stopUrl = stopUrlFor(form.action);
    statusLine.textContent = "";
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        headers: {
          "Accept": "text/event-stream",
          "Content-Type": "application/x-www-form-urlencoded",
          "X-CSRF-Token": csrf,
        },
        body: (() => {
          // Everything the form holds (documents toggle, collection), with
          // the text as it was when sent.
          const fields = new URLSearchParams(new FormData(form));
          fields.set("content", content);
          fields.set("csrf", csrf);
          return fields;
        })(),
        signal: ownController.signal,
        credentials: "same-origin",
      });
    } catch (err) {
      showError(bubble, "Hearth could not be reached. Check the connection and try again.");
      textarea.value = content;
      setBusy(false);
      return;
    }
    if (!response.ok) {
      let message = "The message could not be sent.";
      try {
        const body = await response.json();
        if (body && body.error && body.error.message) message = body.error.message;
      } catch (_) { /* not JSON */ }
      showError(bubble, message);
      answerItem.classList.remove("pending");
      textarea.value = content;
      setBusy(false);
      return;
    }

    let finished = false;
    // Frees the composer once the answer is complete. The server may keep the
    // stream open a little after "done" (it names a new conversation), so
    // this runs at "done" and again, harmlessly, when the stream ends.
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      answerItem.classList.remove("pending");
      statusLine.textContent = "";
      if (controller === ownController) controller = null;
      setBusy(false);
      textarea.focus();
    };
    try {
      await readEvents(response, (name, data) => {
        const payload = JSON.parse(data);
        if (name === "conversation") {
          form.action = `${payload.url}/messages`;
          stopUrl = `${payload.url}/stop`;
          history.replaceState(null, "", payload.url);
          listNewConversation(payload.url, content);
        } else if (name === "queued") {
          statusLine.textContent = queueText(payload.ahead);
        } else if (name === "started") {
          statusLine.textContent = "";
          if (payload.dropped > 0) {
            const marker = element("li", "marker", "Earlier messages were left out from here on: the conversation is longer than the model can read at once.");
            list.insertBefore(marker, userItem);
          }
        } else if (name === "scheduling") {
          // The same offer a reloaded page shows under a scheduling request
          // (chat-schedule.js answers its button in place).
          const offer = element("form", "scheduling-hint");
          offer.method = "post";
          offer.action = "/schedule/assistant";
          for (const [key, value] of [["csrf", csrf], ["text", payload.text]]) {
            const input = element("input");
            input.type = "hidden";
            input.name = key;
            input.value = value;
            offer.append(input);
          }
          const button = element("button", "secondary", "Show free times for this");
          button.type = "submit";
          const note = element("span", "small muted", "from the calendar; nothing is booked until you confirm. ");
          const edit = element("a", "", "Edit the request first");
          edit.href = payload.link;
          note.append(edit);
          offer.append(button, note);
          userItem.append(offer);
        } else if (name === "token") {
          if (payload.html !== null && payload.html !== undefined) bubble.innerHTML = payload.html;
          scrollToEnd();
        } else if (name === "done") {
          finished = true;
          // A failed answer keeps the error shown before "done" (its stored
          // text may be empty), after whatever was written.
          const shownError = bubble.querySelector(".error");
          bubble.innerHTML = payload.html;
          if (payload.status === "failed" && shownError) bubble.append(shownError);
          answerItem.id = `message-${payload.message_id}`;
          answerItem.classList.remove("pending");
          answerItem.classList.add(`status-${payload.status}`);
          meta.replaceChildren();
          if (payload.source) meta.append(element("span", "source", payload.source.replace(/^local:/, "Local model · ")));
          // A busy box can write below 1 token/s: "0.4 tokens/s", not "0 tokens/s".
          const speed = payload.tokens_per_second;
          if (speed > 0) meta.append(element("span", "", `${speed >= 1 ? Math.round(speed) : speed.toFixed(1)} tokens/s`));
          if (payload.status === "stopped") meta.append(element("span", "badge muted", "Stopped"));
          if (payload.status === "length") meta.append(element("span", "badge muted", "Cut short: answer length limit"));
          if (payload.status === "failed") meta.append(element("span", "badge danger", "No answer"));
          if (payload.sources_html) {
            // Rendered and escaped by the server, like the answer itself.
            const holder = document.createElement("div");
            holder.innerHTML = payload.sources_html;
            answerItem.append(...holder.childNodes);
          }
          scrollToEnd();
          release();
        } else if (name === "error") {
          finished = true;
          showError(bubble, payload.message);
          answerItem.classList.remove("pending");
        }
      });
    } catch (err) {
      if (!finished) {
        // Keep what was written so far (the server stores it too).
        const thinking = bubble.querySelector(".thinking");
        if (thinking) thinking.remove();
        if (err.name === "AbortError") {
          answerItem.classList.add("status-stopped");
          meta.replaceChildren(element("span", "badge muted", "Stopped"));
        } else {
          const error = element("p", "error", "The connection broke before the answer was finished.");
          error.setAttribute("role", "alert");
          bubble.append(error);
        }
      }
    }
    release();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = textarea.value.trim();
    if (!content || sendButton.disabled) return;
    textarea.value = "";
    send(content);
  });

  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  stopButton.addEventListener("click", async () => {
    stopButton.disabled = true;
    const current = controller;
    if (stopUrl) {
      try {
        await fetch(stopUrl, { method: "POST", headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }, credentials: "same-origin" });
      } catch (_) { /* the abort below still stops it */ }
    }
    // The server ends the stream with the stored, stopped answer; if it does
    // not within five seconds (a busy box), drop the connection, which also
    // stops it.
    setTimeout(() => { if (current && controller === current) current.abort(); }, 5000);
    stopButton.disabled = false;
  });

  scrollToEnd();
})();
