// Admin → Assistant: picking a preset fills in its numbers under
// "Advanced" at once, and changing the numbers picks the preset they match
// (or Custom). Without this script the server applies a picked preset on
// save; the presets' numbers come from the server, in data attributes.
"use strict";

(() => {
  const form = document.getElementById("assistant-form");
  if (!form) return;
  const temperature = form.elements.namedItem("temperature");
  const topP = form.elements.namedItem("top_p");
  const advanced = document.getElementById("advanced");
  const radios = Array.from(form.querySelectorAll('input[name="preset"]'));
  const custom = radios.find((radio) => radio.value === "custom");
  if (!temperature || !topP || !custom) return;

  const same = (a, b) => Math.abs(a - b) < 1e-4;

  form.addEventListener("change", (event) => {
    const radio = event.target;
    if (radio.name !== "preset") return;
    if (radio === custom) {
      if (advanced) advanced.open = true;
      return;
    }
    temperature.value = radio.dataset.temperature;
    topP.value = radio.dataset.topP;
  });

  const pickMatching = () => {
    const t = parseFloat(temperature.value);
    const p = parseFloat(topP.value);
    const match = radios.find(
      (radio) =>
        radio !== custom &&
        same(parseFloat(radio.dataset.temperature), t) &&
        same(parseFloat(radio.dataset.topP), p),
    );
    (match || custom).checked = true;
  };
  temperature.addEventListener("input", pickMatching);
  topP.addEventListener("input", pickMatching);
})();
