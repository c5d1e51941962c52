// Customers found while typing: after a short pause, ask
// `/api/v1/customers?q=` and replace the list, keeping the address bar in
// step. Without this script the search form submits normally. Names are
// set as text, never as HTML.
"use strict";

(() => {
  const form = document.getElementById("customer-search");
  const rows = document.getElementById("customer-rows");
  const count = document.getElementById("customer-count");
  if (!form || !rows || !count || !window.fetch) return;
  const input = form.querySelector("input[name=q]");
  const limit = 50;
  let timer = null;
  let controller = null;

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function show(query, customers) {
    const shown = customers.slice(0, limit);
    rows.replaceChildren(...shown.map((customer) => {
      const tr = document.createElement("tr");
      const name = document.createElement("td");
      const link = document.createElement("a");
      link.href = `/schedule/customers/${encodeURIComponent(customer.id)}`;
      link.textContent = customer.name;
      name.append(link);
      tr.append(name, cell(customer.phone), cell(customer.email));
      return tr;
    }));
    if (shown.length === 0) {
      count.textContent = query ? `No customer matches “${query}”.` : "No customers yet.";
    } else if (customers.length > limit) {
      count.textContent = `The first ${limit}; type more to narrow the list.`;
    } else {
      count.textContent = `${shown.length} customer${shown.length === 1 ? "" : "s"}.`;
    }
  }

  async function update() {
    const query = input.value.trim();
    history.replaceState(null, "", query ? `/schedule/customers?q=${encodeURIComponent(query)}` : "/schedule/customers");
    if (controller) controller.abort();
    controller = new AbortController();
    const params = new URLSearchParams({ q: query, limit: String(limit + 1) });
    try {
      const response = await fetch(`/api/v1/customers?${params}`, {
        signal: controller.signal,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) show(query, await response.json());
    } catch (_) { /* aborted by newer typing, or offline: the form still works */ }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(update, 200);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    update();
  });
})();
