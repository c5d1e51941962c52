// Search as you type: after a short pause, fetch the results fragment of
// the same search (`?partial=1`) and swap it in, keeping the address bar
// in step. Without this script the form submits normally.
"use strict";

(() => {
  const form = document.getElementById("search-form");
  const results = document.getElementById("search-results");
  if (!form || !results || !window.fetch) return;
  let timer = null;
  let controller = null;

  async function update() {
    const params = new URLSearchParams(new FormData(form));
    for (const [key, value] of [...params.entries()]) if (!value) params.delete(key);
    const query = params.toString();
    history.replaceState(null, "", query ? `/search?${query}` : "/search");
    params.set("partial", "1");
    if (controller) controller.abort();
    controller = new AbortController();
    try {
      const response = await fetch(`/search?${params}`, { signal: controller.signal, credentials: "same-origin" });
      if (response.ok) results.innerHTML = await response.text();
    } catch (_) { /* aborted by a newer search, or offline: the form still works */ }
  }

  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    clearTimeout(timer);
    update();
  });
})();
