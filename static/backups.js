// Admin → Backups: follows a backup while it is written and reloads the page
// when it ends; the recovery sheet's Print button; and, after a restore, waits
// for Hearth to come back from its restart before going on to sign in.
// Without this script each page still works: reload to see the progress.
"use strict";

(() => {
  const pause = (ms) => new Promise((r) => setTimeout(r, ms));

  const print = document.getElementById("print-sheet");
  if (print) print.addEventListener("click", () => window.print());

  const box = document.getElementById("backup-progress");
  if (box && !box.hidden && window.fetch) {
    const bar = document.getElementById("backup-bar");
    (async () => {
      for (;;) {
        await pause(1000);
        try {
          const response = await fetch("/admin/backups/progress", {
            headers: { Accept: "application/json" },
            cache: "no-store",
          });
          if (!response.ok) return;
          const p = await response.json();
          bar.value = p.percent;
          bar.textContent = `${p.percent} %`;
          if (!p.running) {
            window.location.reload();
            return;
          }
        } catch (_) {
          return;
        }
      }
    })();
  }

  const restarting = document.getElementById("restarting");
  if (restarting && window.fetch) {
    const next = restarting.dataset.next || "/login";
    const message = document.getElementById("restart-message");
    const since = Date.now();
    const before = restarting.dataset.instance || "";
    // True once a new run of Hearth answers /readyz (another instance name).
    const restarted = async () => {
      try {
        const ready = await fetch("/readyz", { cache: "no-store" });
        await ready.text();
        return ready.ok && ready.headers.get("x-hearth-instance") !== before;
      } catch (_) {
        return false;
      }
    };
    (async () => {
      while (Date.now() - since < 15 * 60 * 1000) {
        if (await restarted()) {
          window.location.assign(next);
          return;
        }
        const seconds = Math.floor((Date.now() - since) / 1000);
        message.textContent = `Hearth is putting the backup in place (${seconds} s so far). This page goes on by itself.`;
        await pause(1000);
      }
      message.className = "error";
      message.textContent = "Hearth has not come back after 15 minutes. Look at the box's screen or log (journalctl -u hearth) for the reason.";
    })();
  }
})();
