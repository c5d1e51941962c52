// Model upload with progress, resume and cancel. Multi-GB files go up in
// 64 MiB pieces with PUT; after a broken connection the upload continues
// from the bytes the server already has. Without this script the form
// posts the file in one piece.
"use strict";

(() => {
  const form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.File) return;
  const input = document.getElementById("file");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const start = document.getElementById("upload-start");
  const cancel = document.getElementById("upload-cancel");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const PIECE = 64 * 1024 * 1024;
  let current = null;
  let cancelled = false;

  const mb = (n) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;

  function request(method, url, body, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      current = xhr;
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => {
        let json = null;
        try { json = JSON.parse(xhr.responseText); } catch (_) { /* empty */ }
        if (xhr.status >= 200 && xhr.status < 300) resolve(json);
        else reject(new Error(json && json.error ? json.error.message : `The server answered ${xhr.status}.`));
      };
      xhr.onerror = () => reject(new Error("network"));
      xhr.onabort = () => reject(new Error("cancelled"));
      xhr.send(body);
    });
  }

  async function upload(file) {
    const name = encodeURIComponent(file.name);
    const base = `/admin/models/upload?name=${name}&total=${file.size}`;
    let offset = 0;
    try {
      const state = await request("GET", `/admin/models/upload?name=${name}`);
      offset = state.received || 0;
      if (offset > 0) status.textContent = `Resuming at ${mb(offset)}.`;
    } catch (_) { /* start from zero */ }
    let retries = 0;
    while (offset < file.size || file.size === 0) {
      if (cancelled) throw new Error("cancelled");
      const end = Math.min(offset + PIECE, file.size);
      try {
        const result = await request("PUT", `${base}&offset=${offset}`, file.slice(offset, end), (sent) => {
          const done = offset + sent;
          bar.value = Math.floor((done / file.size) * 100);
          status.textContent = `Uploading ${file.name}: ${mb(done)} of ${mb(file.size)}.`;
        });
        offset = result.received;
        retries = 0;
        if (result.complete) return;
      } catch (err) {
        if (err.message !== "network" || retries >= 5) throw err;
        retries += 1;
        status.textContent = `Connection lost; retrying (${retries} of 5)…`;
        await new Promise((r) => setTimeout(r, 2000 * retries));
        const state = await request("GET", `/admin/models/upload?name=${name}`);
        offset = state.received || 0;
      }
      if (file.size === 0) break;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files && input.files[0];
    if (!file) return;
    cancelled = false;
    start.disabled = true;
    cancel.hidden = false;
    bar.hidden = false;
    bar.value = 0;
    try {
      await upload(file);
      bar.value = 100;
      status.textContent = `${file.name} was checked and added. Reloading…`;
      window.location.reload();
    } catch (err) {
      if (err.message === "cancelled") {
        try { await request("DELETE", `/admin/models/upload?name=${encodeURIComponent(file.name)}`); } catch (_) { /* already gone */ }
        status.textContent = "Upload cancelled; nothing was kept.";
      } else if (err.message === "network") {
        status.textContent = "The connection was lost. Choose the same file and press Upload to continue where it stopped.";
      } else {
        status.textContent = err.message;
      }
      bar.hidden = true;
    } finally {
      start.disabled = false;
      cancel.hidden = true;
      current = null;
    }
  });

  cancel.addEventListener("click", () => {
    cancelled = true;
    if (current) current.abort();
  });
})();

// A model download runs on the server; while it does, this shows its
// progress (GET /admin/models/download) and reloads the page when it ends,
// so the new model appears in the list. Without this script the page shows
// the progress as it was when it was loaded, with a link to reload.
(() => {
  const box = document.getElementById("download");
  if (!box || !box.hasAttribute("data-running") || !window.fetch) return;
  const bar = document.getElementById("download-bar");
  const summary = document.getElementById("download-summary");
  const message = document.getElementById("download-message");
  const stateBadge = document.getElementById("download-state");
  const reload = document.getElementById("download-reload");
  if (reload) reload.hidden = true;

  async function poll() {
    let progress = null;
    try {
      const response = await fetch("/admin/models/download", { headers: { Accept: "application/json" } });
      if (response.ok) progress = await response.json();
    } catch (_) { /* the server is restarting or the network blinked: try again */ }
    if (progress) {
      bar.value = progress.percent;
      bar.textContent = `${progress.percent} %`;
      summary.textContent = progress.summary;
      message.textContent = progress.message;
      stateBadge.textContent = progress.state;
      if (!progress.running) {
        window.location.reload();
        return;
      }
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 500);
})();
