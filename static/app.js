// Hearth's small progressive enhancements. Every page works without this
// file; it only adds confirmations and a copy button. No inline scripts:
// the Content-Security-Policy forbids them.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
});

// A form with data-confirm-rename asks before it renames something: its
// `name` field differs from data-current-name ("{old}" and "{new}" are
// filled in).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm-rename");
  const field = form.elements.namedItem("name");
  if (!question || !field) return;
  const before = (form.getAttribute("data-current-name") || "").trim();
  const after = field.value.trim();
  if (after === before) return;
  if (!window.confirm(question.replace("{old}", before).replace("{new}", after))) {
    event.preventDefault();
  }
});
