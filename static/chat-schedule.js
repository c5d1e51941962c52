// In chat, under a message that reads like a scheduling request: "Show free
// times for this" opens the scheduling assistant's answer right in the
// conversation (what it understood, the options, one click to confirm),
// through the same JSON API the Schedule page uses. Without this script the
// button posts the request to the assistant's page.
"use strict";

(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf };

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function call(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error((answer.error && answer.error.message) || "That did not work. Try again.");
    }
    return answer;
  }

  // Shows an answer (options, a question, free times or a message) in `card`.
  function show(card, answer) {
    card.replaceChildren();
    if (answer.question) {
      card.append(element("p", "question", answer.question));
      for (const choice of answer.choices || []) {
        const button = element("button", "secondary", choice.label);
        button.type = "button";
        button.addEventListener("click", () =>
          run(card, () => call("/api/v1/schedule/proposals", choice.terms)),
        );
        card.append(button);
      }
    }
    const offers = answer.offers || [];
    if (offers.length) {
      const list = element("ul", "slots");
      for (const offer of offers) {
        const item = element("li");
        item.append(element("span", "offer-label", offer.label));
        const confirm = element("button", "", "Confirm");
        confirm.type = "button";
        confirm.addEventListener("click", async () => {
          confirm.disabled = true;
          try {
            const booked = await call(`/api/v1/proposals/${offer.proposal}/confirm`);
            card.replaceChildren();
            const done = element("p", "flash", `Confirmed: ${offer.label}. `);
            const link = element("a", "", "Open the appointment");
            link.href = `/schedule/appointments/${booked.id}`;
            done.append(link);
            card.append(done);
          } catch (error) {
            confirm.disabled = false;
            card.append(element("p", "error", error.message));
          }
        });
        item.append(confirm);
        list.append(item);
      }
      card.append(list);
      card.append(element("p", "muted small", "Nothing changes until you confirm one."));
    }
    if ((answer.free || []).length) {
      const list = element("ul");
      for (const slot of answer.free) list.append(element("li", "", slot));
      card.append(element("p", "", "Free:"), list);
    }
    if (answer.message) card.append(element("p", "notice", answer.message));
    const more = element("a", "small", "Open in the scheduling assistant");
    more.href = `/schedule/assistant?text=${encodeURIComponent(card.dataset.text || "")}`;
    card.append(more);
  }

  async function run(card, request) {
    card.replaceChildren(element("p", "muted", "Looking at the calendar…"));
    try {
      show(card, await request());
    } catch (error) {
      card.replaceChildren(element("p", "error", error.message));
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form.scheduling-hint");
    if (!form || !window.fetch) return;
    event.preventDefault();
    const text = form.querySelector('input[name="text"]').value;
    let card = form.nextElementSibling;
    if (!card || !card.classList.contains("scheduling-card")) {
      card = element("div", "scheduling-card card");
      card.setAttribute("role", "region");
      card.setAttribute("aria-label", "Scheduling assistant");
      form.after(card);
    }
    card.dataset.text = text;
    run(card, () => call("/api/v1/schedule/assistant", { text }));
  });
})();
