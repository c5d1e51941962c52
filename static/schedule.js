// The Schedule page's enhancements; the page works without them.
// - Drag an appointment onto another time (or person) in the day grid to
//   move it: the same rules as the form, through the JSON API; a conflict
//   is shown, nothing changes.
// - The customer field suggests customers while typing.
"use strict";

(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const grid = document.getElementById("day-grid");
  const problem = document.getElementById("drag-error");

  if (grid) {
    let dragged = null;
    grid.addEventListener("dragstart", (event) => {
      const appt = event.target.closest(".appt");
      if (!appt) return;
      dragged = appt;
      appt.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", appt.dataset.id);
    });
    grid.addEventListener("dragend", () => {
      if (dragged) dragged.classList.remove("dragging");
      dragged = null;
      grid.querySelectorAll(".drop").forEach((c) => c.classList.remove("drop"));
    });
    grid.addEventListener("dragover", (event) => {
      const cell = event.target.closest(".cal-cell");
      if (!cell || !dragged) return;
      event.preventDefault();
      grid.querySelectorAll(".drop").forEach((c) => c.classList.remove("drop"));
      cell.classList.add("drop");
    });
    grid.addEventListener("drop", async (event) => {
      const cell = event.target.closest(".cal-cell");
      if (!cell || !dragged) return;
      event.preventDefault();
      const body = { start: `${grid.dataset.date}T${cell.dataset.time}` };
      if (cell.dataset.staff) body.staff = Number(cell.dataset.staff);
      if (cell.dataset.resource) body.resource = Number(cell.dataset.resource);
      const id = dragged.dataset.id;
      try {
        const response = await fetch(`/api/v1/appointments/${id}`, {
          method: "PATCH",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify(body),
          credentials: "same-origin",
        });
        if (response.ok) {
          // Read the answer to the end first: reloading mid-answer aborts it.
          await response.text().catch(() => "");
          window.location.reload();
          return;
        }
        const answer = await response.json().catch(() => ({}));
        show((answer.error && answer.error.message) || "That move did not work.");
      } catch (_) {
        show("Hearth could not be reached. Try again.");
      }
    });
  }

  function show(message) {
    if (!problem) return;
    problem.textContent = message;
    problem.hidden = false;
  }

  // Customers while typing.
  const name = document.getElementById("b-customer");
  const list = document.getElementById("customer-list");
  const hidden = document.getElementById("b-customer-id");
  const phone = document.getElementById("b-phone");
  if (!name || !list || !hidden) return;
  let found = [];
  let timer = null;
  name.addEventListener("input", () => {
    hidden.value = "";
    const exact = found.filter((c) => c.name === name.value);
    if (exact.length === 1) {
      hidden.value = String(exact[0].id);
      if (phone && !phone.value) phone.value = exact[0].phone || "";
    }
    clearTimeout(timer);
    const text = name.value.trim();
    if (text.length < 2) return;
    timer = setTimeout(async () => {
      try {
        const response = await fetch(`/api/v1/customers?q=${encodeURIComponent(text)}`, {
          credentials: "same-origin",
        });
        if (!response.ok) return;
        const answer = await response.json();
        found = Array.isArray(answer) ? answer : answer.customers || [];
        list.replaceChildren(
          ...found.slice(0, 10).map((c) => {
            const option = document.createElement("option");
            option.value = c.name;
            option.label = [c.phone, c.email].filter(Boolean).join(" · ");
            return option;
          }),
        );
      } catch (_) {
        // Suggestions are a convenience; the form works without them.
      }
    }, 150);
  });
})();
