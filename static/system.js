// Admin → System: follows an update while it is installed and across the
// restart. It asks the server every two seconds; while the box restarts it
// waits for /readyz to answer again and then reloads, and after fifteen
// minutes without the box it says what to do instead of waiting for ever.
// Without this script the page shows the progress as of its loading.
"use strict";

(() => {
  const box = document.getElementById("update-progress");
  if (!box || !window.fetch) return;
  const bar = document.getElementById("update-bar");
  const message = document.getElementById("update-message");
  const version = document.getElementById("update-version");
  const form = document.getElementById("update-form");
  const RESTART_LIMIT_MS = 15 * 60 * 1000;

  function show(p) {
    box.hidden = false;
    version.textContent = p.to_version;
    bar.hidden = !p.active;
    bar.value = p.percent;
    message.textContent = p.message;
    message.className = p.stalled || !p.active ? "error" : "help";
    if (form) form.querySelector("button").disabled = p.active;
  }

  async function waitForRestart() {
    const since = Date.now();
    // The box goes down first; give it a moment.
    await new Promise((r) => setTimeout(r, 5000));
    while (Date.now() - since < RESTART_LIMIT_MS) {
      try {
        const ready = await fetch("/readyz", { cache: "no-store" });
        // Read to the end, so the reload does not cut the request off.
        await ready.text();
        if (ready.ok) {
          window.location.reload();
          return;
        }
      } catch (_) { /* still restarting */ }
      const minutes = Math.floor((Date.now() - since) / 60000);
      message.textContent = `The box is restarting into the new version (${minutes} min so far). This page reconnects by itself.`;
      await new Promise((r) => setTimeout(r, 3000));
    }
    message.className = "error";
    message.textContent = "The box has not come back after 15 minutes. If its screen shows no address, switch it off and on again: it starts the version that worked if the new one does not.";
  }

  async function poll() {
    for (;;) {
      let p = null;
      try {
        const response = await fetch("/admin/system/update/progress", {
          headers: { Accept: "application/json" },
          cache: "no-store",
        });
        if (response.ok) p = await response.json();
      } catch (_) {
        // The box went away: it is restarting.
        p = { phase: "restarting", active: true, percent: 100, to_version: version.textContent, message: "", stalled: false };
      }
      if (!p) return;
      show(p);
      if (p.phase === "restarting") {
        await waitForRestart();
        return;
      }
      if (!p.active) return;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  if (!box.hidden) poll();
})();
