// The chat page's streaming and answer actions. Sends the message with
// fetch and reads the answer as server-sent events from the same response;
// a page that comes back to a conversation whose answer is still being
// written follows it (GET /chat/{id}/stream). Every answer can be copied
// (as text or Markdown), the last one written again or, when cut off,
// continued, and the latest question edited and sent again. The HTML of
// answers is sanitised on the server; this script only ever inserts that
// HTML or plain text. Without this script the forms still work: the server
// waits for the whole answer and shows the page.
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
  let stopUrl = null;

  function conversationUrl() {
    const match = form.action.match(/\/chat\/(\d+)\//);
    return match ? `/chat/${match[1]}` : null;
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
    for (const button of list.querySelectorAll(".answer-again button, .edit-form button")) {
      button.disabled = busy;
    }
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

  // --- copying -------------------------------------------------------------

  // The answer as the model wrote it: kept in a <template> beside the bubble.
  function markdownOf(item) {
    const template = item.querySelector("template.markdown");
    return template ? template.content.textContent : "";
  }

  function setMarkdown(item, markdown) {
    let template = item.querySelector("template.markdown");
    if (!template) {
      template = document.createElement("template");
      template.className = "markdown";
      item.querySelector(".bubble").after(template);
    }
    template.content.replaceChildren(document.createTextNode(markdown));
  }

  // navigator.clipboard exists only on https or localhost; the office box
  // is usually reached over plain http, where a selected textarea and
  // execCommand still copy.
  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (_) { /* fall through */ }
    }
    const area = element("textarea", "visually-hidden");
    area.value = text;
    area.setAttribute("readonly", "");
    document.body.append(area);
    area.select();
    let copied = false;
    try { copied = document.execCommand("copy"); } catch (_) { copied = false; }
    area.remove();
    return copied;
  }

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button.copy");
    if (!button) return;
    const item = button.closest("li.message");
    const text = button.dataset.copy === "markdown"
      ? markdownOf(item)
      : item.querySelector(".bubble").innerText.trim();
    const copied = await copyText(text);
    const label = button.textContent;
    button.textContent = copied ? "Copied" : "Copy failed: select the text instead";
    setTimeout(() => { button.textContent = label; }, 2000);
  });

  // --- answer actions --------------------------------------------------------

  function hiddenCsrf() {
    const input = element("input");
    input.type = "hidden";
    input.name = "csrf";
    input.value = csrf;
    return input;
  }

  function actionForm(url, turn, label) {
    const action = element("form", "answer-again");
    action.method = "post";
    action.action = url;
    action.dataset.turn = turn;
    const button = element("button", "link", label);
    button.type = "submit";
    action.append(hiddenCsrf(), button);
    return action;
  }

  // Copy buttons on every answer; Regenerate on the last one; Continue on a
  // last one that was cut off. Older answers lose Regenerate and Continue.
  function renderActions(item, messageId, status) {
    for (const old of list.querySelectorAll(".answer-again")) old.remove();
    let actions = item.querySelector(".message-actions");
    if (!actions) {
      actions = element("div", "message-actions");
      item.append(actions);
    }
    actions.replaceChildren();
    const copyAsText = element("button", "link copy", "Copy");
    copyAsText.type = "button";
    copyAsText.dataset.copy = "text";
    const copyAsMarkdown = element("button", "link copy", "Copy as Markdown");
    copyAsMarkdown.type = "button";
    copyAsMarkdown.dataset.copy = "markdown";
    actions.append(copyAsText, copyAsMarkdown);
    const base = conversationUrl();
    if (!base || !messageId) return;
    if (status === "stopped" || status === "length") {
      actions.append(actionForm(`${base}/messages/${messageId}/continue`, "continue", "Continue"));
    }
    if (status !== "writing") {
      actions.append(actionForm(`${base}/messages/${messageId}/regenerate`, "regenerate", "Regenerate"));
    }
    if (status === "done" || status === "stopped" || status === "length") {
      renderFlags(actions, `${base}/messages/${messageId}/flag`);
    }
  }

  // "Good answer", "Wrong" and "Correct it", as the server renders them:
  // plain forms (the page reloads with a thank-you).
  function renderFlags(actions, url) {
    const thumbs = element("form", "flag-answer inline");
    thumbs.method = "post";
    thumbs.action = url;
    thumbs.append(hiddenCsrf());
    for (const [value, label, title] of [["up", "Good answer", "Mark this answer as right"], ["down", "Wrong", "Mark this answer as wrong"]]) {
      const button = element("button", `link flag-${value}`, label);
      button.type = "submit";
      button.name = "rating";
      button.value = value;
      button.title = title;
      button.setAttribute("aria-pressed", "false");
      thumbs.append(button);
    }
    const details = element("details", "flag-correct");
    details.append(element("summary", "link", "Correct it"));
    const form = element("form", "stack");
    form.method = "post";
    form.action = url;
    const rating = element("input");
    rating.type = "hidden";
    rating.name = "rating";
    rating.value = "down";
    const id = `correction-${Math.random().toString(36).slice(2)}`;
    const label = element("label", "", "What should it have said?");
    label.htmlFor = id;
    const text = element("textarea");
    text.id = id;
    text.name = "correction";
    text.rows = 3;
    text.maxLength = 4000;
    const help = element("p", "help", "Your question, this answer and your correction go to the owner and admins, who can make it a house fact the assistant uses.");
    const send = element("button", "", "Send the correction");
    send.type = "submit";
    form.append(hiddenCsrf(), rating, label, text, help, send);
    details.append(form);
    actions.append(thumbs, details);
  }

  // "Edit" under the latest question only.
  function renderEdit(userItem, questionId) {
    for (const old of list.querySelectorAll(".edit-question")) old.remove();
    const base = conversationUrl();
    if (!base || !questionId) return;
    const details = element("details", "edit-question");
    details.append(element("summary", "", "Edit"));
    const editForm = element("form", "edit-form");
    editForm.method = "post";
    editForm.action = `${base}/messages/${questionId}/edit`;
    const label = element("label", "visually-hidden", "Your question");
    label.htmlFor = `edit-${questionId}`;
    const area = element("textarea");
    area.id = `edit-${questionId}`;
    area.name = "content";
    area.rows = 3;
    area.required = true;
    area.maxLength = textarea.maxLength;
    area.value = userItem.querySelector(".bubble").textContent;
    const row = element("div", "row");
    const submit = element("button", "primary", "Save and send again");
    submit.type = "submit";
    row.append(submit, element("span", "small muted", "The answer below is replaced."));
    editForm.append(hiddenCsrf(), label, area, row);
    details.append(editForm);
    const hint = userItem.querySelector(".scheduling-hint");
    if (hint) hint.before(details);
    else userItem.append(details);
  }

  // --- following an answer ---------------------------------------------------

  // Reads one answer's events into its list item. `userItem` is the question
  // (for the documents marker and the scheduling offer); `keepText` keeps
  // what the bubble shows until new text arrives (Continue, a page that
  // comes back). Resolves when the answer is stored or the stream ends.
  async function follow(response, answerItem, userItem, options = {}) {
    const bubble = answerItem.querySelector(".bubble");
    let meta = answerItem.querySelector(".meta");
    if (!meta) {
      meta = element("p", "meta");
      bubble.after(meta);
    }
    let finished = false;
    let questionId = null;
    setBusy(true);
    try {
      await readEvents(response, (name, data) => {
        const payload = JSON.parse(data);
        if (name === "conversation") {
          form.action = `${payload.url}/messages`;
          stopUrl = `${payload.url}/stop`;
          history.replaceState(null, "", payload.url);
          if (options.onConversation) options.onConversation(payload.url);
        } else if (name === "question") {
          questionId = payload.id;
        } else if (name === "queued") {
          statusLine.textContent = queueText(payload.ahead);
        } else if (name === "started") {
          statusLine.textContent = "";
          if (payload.dropped > 0 && userItem) {
            const marker = element("li", "marker", "Earlier messages were left out from here on: the conversation is longer than the model can read at once.");
            list.insertBefore(marker, userItem);
          }
        } else if (name === "scheduling" && userItem) {
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
          statusLine.textContent = "";
          // A failed answer keeps the error shown before "done" (its stored
          // text may be empty), after whatever was written.
          const shownError = bubble.querySelector(".error");
          bubble.innerHTML = payload.html;
          if (payload.status === "failed" && shownError) bubble.append(shownError);
          setMarkdown(answerItem, payload.markdown || "");
          answerItem.id = `message-${payload.message_id}`;
          answerItem.dataset.id = payload.message_id;
          answerItem.removeAttribute("data-follow");
          answerItem.classList.remove("pending");
          setStatus(answerItem, payload.status);
          meta.replaceChildren();
          if (payload.source) meta.append(element("span", "source", payload.source));
          // A busy box can write below 1 token/s: "0.4 tokens/s", not "0 tokens/s".
          const speed = payload.tokens_per_second;
          if (speed > 0) meta.append(element("span", "", `${speed >= 1 ? Math.round(speed) : speed.toFixed(1)} tokens/s`));
          if (payload.status === "stopped") meta.append(element("span", "badge muted", "Stopped"));
          if (payload.status === "length") meta.append(element("span", "badge muted", "Cut short: answer length limit"));
          if (payload.status === "failed") meta.append(element("span", "badge danger", "No answer"));
          for (const old of answerItem.querySelectorAll(".source-list, .sources")) old.remove();
          if (payload.sources_html) {
            // Rendered and escaped by the server, like the answer itself.
            const holder = document.createElement("div");
            holder.innerHTML = payload.sources_html;
            meta.after(...holder.childNodes);
          }
          renderActions(answerItem, payload.message_id, payload.status);
          if (userItem && questionId) renderEdit(userItem, questionId);
          scrollToEnd();
        } else if (name === "error") {
          finished = true;
          showError(bubble, payload.message);
          answerItem.classList.remove("pending");
        }
      });
    } catch (err) {
      if (!finished) {
        // The server keeps writing and storing the answer; reloading the
        // page follows it again.
        const thinking = bubble.querySelector(".thinking");
        if (thinking) thinking.remove();
        const error = element("p", "error", "The connection broke; the answer goes on. Reload the page to see it.");
        error.setAttribute("role", "alert");
        bubble.append(error);
      }
    }
    answerItem.classList.remove("pending");
    statusLine.textContent = "";
    setBusy(false);
    if (!options.quiet) textarea.focus();
  }

  // An answer's status class ("status-done", "status-stopped", ...): the
  // new one, or none while it is being written.
  function setStatus(item, status) {
    for (const name of [...item.classList]) {
      if (name.startsWith("status-")) item.classList.remove(name);
    }
    if (status) item.classList.add(`status-${status}`);
  }

  function answerShell() {
    const item = element("li", "message from-assistant pending");
    const bubble = element("div", "bubble answer");
    bubble.append(element("span", "thinking", "Thinking…"));
    item.append(bubble, element("p", "meta"));
    return item;
  }

  // POSTs a form's fields and returns the event stream's response, or shows
  // why not in `bubble` and returns null.
  async function post(url, fields, bubble) {
    fields.set("csrf", csrf);
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: {
          "Accept": "text/event-stream",
          "Content-Type": "application/x-www-form-urlencoded",
          "X-CSRF-Token": csrf,
        },
        body: fields,
        credentials: "same-origin",
      });
    } catch (_) {
      showError(bubble, "Hearth could not be reached. Check the connection and try again.");
      return null;
    }
    if (!response.ok) {
      let message = "That did not work.";
      try {
        const body = await response.json();
        if (body && body.error && body.error.message) message = body.error.message;
      } catch (_) { /* not JSON */ }
      showError(bubble, message);
      return null;
    }
    return response;
  }

  async function send(content) {
    const welcome = document.getElementById("chat-welcome");
    if (welcome) welcome.remove();
    const oldError = document.getElementById("chat-error");
    if (oldError) oldError.remove();

    const userItem = element("li", "message from-user");
    userItem.append(element("div", "bubble", content));
    const answerItem = answerShell();
    list.append(userItem, answerItem);
    scrollToEnd();
    setBusy(true);
    stopUrl = conversationUrl() ? `${conversationUrl()}/stop` : null;
    statusLine.textContent = "";
    // Everything the form holds (documents choice, collection), with the
    // text as it was when sent.
    const fields = new URLSearchParams(new FormData(form));
    fields.set("content", content);
    const response = await post(form.action, fields, answerItem.querySelector(".bubble"));
    if (!response) {
      answerItem.classList.remove("pending");
      textarea.value = content;
      setBusy(false);
      return;
    }
    await follow(response, answerItem, userItem, {
      onConversation: (url) => listNewConversation(url, content),
    });
  }

  // Regenerate, Continue and Edit, answered in place.
  list.addEventListener("submit", async (event) => {
    const actionForm = event.target.closest("form.answer-again, form.edit-form");
    if (!actionForm) return;
    event.preventDefault();
    if (sendButton.disabled) return;
    const item = actionForm.closest("li.message");
    const fields = new URLSearchParams(new FormData(actionForm));
    stopUrl = `${conversationUrl()}/stop`;
    let answerItem = item;
    let userItem = null;
    if (actionForm.classList.contains("edit-form")) {
      const content = fields.get("content").trim();
      if (!content) return;
      userItem = item;
      userItem.querySelector(".bubble").textContent = content;
      actionForm.closest("details").open = false;
      // The old answer (and anything after the question) is replaced.
      while (userItem.nextElementSibling) userItem.nextElementSibling.remove();
      answerItem = answerShell();
      list.append(answerItem);
    } else {
      userItem = item.previousElementSibling;
      while (userItem && !userItem.classList.contains("from-user")) userItem = userItem.previousElementSibling;
      for (const old of item.querySelectorAll(".message-actions, .source-list, .sources")) old.remove();
      // While it is written again or continued, the answer is neither
      // stopped nor cut short: its old badge and status go until "done".
      for (const badge of item.querySelectorAll(".meta .badge")) badge.remove();
      setStatus(item, null);
      item.classList.add("pending");
      if (actionForm.dataset.turn === "regenerate") {
        const bubble = item.querySelector(".bubble");
        bubble.replaceChildren(element("span", "thinking", "Thinking…"));
        item.querySelector(".meta").replaceChildren();
      }
    }
    scrollToEnd();
    setBusy(true);
    const response = await post(actionForm.action, fields, answerItem.querySelector(".bubble"));
    if (!response) {
      answerItem.classList.remove("pending");
      setBusy(false);
      return;
    }
    await follow(response, answerItem, userItem);
  });

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

  // Only Stop stops an answer: leaving the page does not. The server ends
  // the stream with the stored, stopped answer.
  stopButton.addEventListener("click", async () => {
    const url = stopUrl || (conversationUrl() && `${conversationUrl()}/stop`);
    if (!url) return;
    stopButton.disabled = true;
    try {
      const response = await fetch(url, { method: "POST", headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }, credentials: "same-origin" });
      if (!response.ok) statusLine.textContent = "The answer could not be stopped. Try again.";
    } catch (_) {
      statusLine.textContent = "Hearth could not be reached to stop the answer. Try again.";
    }
    stopButton.disabled = false;
  });

  // Copy buttons need this script: they are shown only with it.
  for (const button of list.querySelectorAll("button.copy")) button.hidden = false;

  // An answer still being written when the page was opened: follow it.
  const writing = list.querySelector("li[data-follow]");
  if (writing) {
    stopUrl = `${conversationUrl()}/stop`;
    const bubble = writing.querySelector(".bubble");
    if (!bubble.textContent.trim()) bubble.replaceChildren(element("span", "thinking", "Thinking…"));
    for (const badge of writing.querySelectorAll(".meta .badge")) badge.remove();
    let userItem = writing.previousElementSibling;
    while (userItem && !userItem.classList.contains("from-user")) userItem = userItem.previousElementSibling;
    setBusy(true);
    fetch(writing.dataset.follow, { headers: { "Accept": "text/event-stream" }, credentials: "same-origin" })
      .then((response) => {
        if (!response.ok) throw new Error(`status ${response.status}`);
        return follow(response, writing, userItem, { quiet: true });
      })
      .catch(() => {
        setBusy(false);
        writing.classList.remove("pending");
      });
  }

  scrollToEnd();
})();
