// Upload several files at once with a progress bar per file, for the
// upload and then for processing; drag and drop onto the form. Each file
// goes up in its own request to /api/v1/documents, so one bad file never
// stops the others. Without this script the form posts all files at once.
"use strict";

(() => {
  const form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  const input = document.getElementById("files");
  const zone = document.getElementById("drop-zone");
  const list = document.getElementById("upload-list");
  const collection = document.getElementById("collection");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const pending = new Map(); // document id -> list item

  const mb = (n) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;

  function item(file) {
    const li = document.createElement("li");
    li.className = "upload-item";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = "Waiting";
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Progress of ${file.name}`);
    li.append(name, state, bar);
    list.append(li);
    return { li, state, bar };
  }

  function upload(file, row) {
    return new Promise((resolve) => {
      const body = new FormData();
      body.append("collection", collection.value);
      body.append("file", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/documents");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable) return;
        // Uploading is the first half of the bar; processing the second.
        row.bar.value = Math.round((e.loaded / e.total) * 50);
        row.state.textContent = `Uploading ${mb(e.loaded)} of ${mb(e.total)}`;
      };
      xhr.onload = () => {
        let json = null;
        try { json = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        // Refused uploads (4xx, 507) carry each file's reason in `results` too.
        if (json && json.results && json.results[0]) {
          const result = json.results[0];
          if (result.outcome === "rejected") {
            fail(row, result.error || "Rejected.");
          } else if (result.outcome === "duplicate") {
            row.bar.value = 100;
            row.li.classList.add("done");
            row.state.textContent = result.error || "Already there.";
          } else {
            row.bar.value = 50;
            row.state.textContent = "Queued for processing";
            row.li.dataset.document = result.document.id;
            pending.set(String(result.document.id), row);
          }
        } else {
          fail(row, json && json.error ? json.error.message : `The server answered ${xhr.status}.`);
        }
        resolve();
      };
      xhr.onerror = () => { fail(row, "The connection was lost. Try this file again."); resolve(); };
      xhr.send(body);
    });
  }

  function fail(row, message) {
    row.li.classList.add("failed");
    row.bar.value = 100;
    row.state.textContent = message;
  }

  // Once everything is processed, show the list as the server has it now.
  async function refreshList() {
    const current = document.getElementById("document-list");
    if (!current || !window.DOMParser) return;
    try {
      const response = await fetch(location.href, { credentials: "same-origin" });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("document-list");
      if (fresh) current.replaceWith(document.importNode(fresh, true));
    } catch (_) { /* the list updates on the next visit */ }
  }

  async function poll() {
    if (pending.size === 0) return refreshList();
    while (pending.size > 0) {
      await new Promise((r) => setTimeout(r, 800));
      const ids = [...pending.keys()].join(",");
      let json;
      try {
        const response = await fetch(`/api/v1/documents?ids=${ids}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        json = await response.json();
      } catch (_) { continue; }
      for (const doc of json.documents || []) {
        const row = pending.get(String(doc.id));
        if (!row) continue;
        if (doc.status === "processing") {
          row.bar.value = 75;
          row.state.textContent = "Reading the text…";
        } else if (doc.status === "indexed") {
          row.bar.value = 100;
          row.li.classList.add("done");
          row.state.replaceChildren();
          const link = document.createElement("a");
          link.href = `/documents/${doc.id}`;
          link.textContent = `Indexed${doc.pages ? ` · ${doc.pages} page${doc.pages === 1 ? "" : "s"}` : ""}`;
          row.state.append(link);
          pending.delete(String(doc.id));
        } else if (doc.status === "failed") {
          fail(row, doc.error_reason || "Could not be processed.");
          pending.delete(String(doc.id));
        }
      }
    }
    refreshList();
  }

  async function send(files) {
    if (!files.length) return;
    const rows = [...files].map((file) => [file, item(file)]);
    // Two at a time: quick on a LAN, gentle on a small box.
    const queue = rows.slice();
    const workers = [0, 1].map(async () => {
      while (queue.length) {
        const [file, row] = queue.shift();
        await upload(file, row);
      }
    });
    await Promise.all(workers);
    input.value = "";
    poll();
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send(input.files);
  });
  input.required = false;
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files) send(e.dataTransfer.files);
  });
})();
