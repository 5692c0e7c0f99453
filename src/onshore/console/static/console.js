// Progressive enhancement for the Onshore console; every page works without it.
// 1. Decisions: the table body refreshes itself every few seconds (server-rendered, escaped rows).
// 2. Audit: "Verify now" runs in the background and shows its progress until the result is in.
"use strict";

function liveRows(body) {
  const url = new URL(body.dataset.live, window.location.origin);
  url.searchParams.set("fragment", "rows");
  const refresh = async () => {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (response.ok) body.innerHTML = await response.text();
  };
  window.setInterval(() => refresh().catch(() => {}), 2000);
}

function verifyInBackground(form) {
  const bar = form.querySelector("progress");
  const out = form.querySelector("output");
  const json = { Accept: "application/json" };
  const show = (state) => {
    bar.hidden = false;
    bar.max = Math.max(state.total, 1);
    bar.value = state.done;
    out.textContent = out.dataset.textRunning.replace("{done}", state.done).replace("{total}", state.total);
  };
  const poll = async () => {
    const state = await (await fetch("/audit/verify", { credentials: "same-origin", headers: json })).json();
    show(state);
    if (state.running) window.setTimeout(poll, 200);
    else window.location.reload();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin", headers: json });
    const state = await response.json();
    if (!response.ok) { out.textContent = state.error; return; }
    show(state);
    poll();
  });
  if (out.dataset.running === "yes") poll();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("tbody[data-live]").forEach(liveRows);
  document.querySelectorAll("form[data-verify]").forEach(verifyInBackground);
});
