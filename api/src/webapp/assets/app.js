// The CRM web app's one script: the logout, sortable tables and the live
// refresh. No inline script anywhere (the CSP allows only this file).
"use strict";

function csrf() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

function setupLogout() {
  document.querySelectorAll("form.logout").forEach((form) => {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await fetch("/auth/logout", {
          method: "POST",
          headers: { "X-CSRF-Token": csrf() },
          credentials: "same-origin",
        });
      } finally {
        window.location.assign("/");
      }
    });
  });
}

function cellValue(cell) {
  const v = cell.getAttribute("data-value");
  const raw = v !== null ? v : cell.textContent.trim();
  const n = Number(raw);
  return raw !== "" && raw !== "null" && !Number.isNaN(n) ? n : raw.toLowerCase();
}

function setupSorting(root) {
  root.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("thead th").forEach((th, index) => {
      const button = th.querySelector("button");
      if (!button) return;
      button.addEventListener("click", () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const x = cellValue(a.cells[index]);
          const y = cellValue(b.cells[index]);
          const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return ascending ? c : -c;
        });
        rows.forEach((r) => body.appendChild(r));
      });
    });
  });
}

function setupLive() {
  const main = document.getElementById("main");
  if (!main || main.dataset.live !== "1" || !window.EventSource) return;
  let busy = false;
  let again = null;
  async function refresh(position) {
    if (busy) { again = position; return; }
    busy = true;
    try {
      const url = new URL(window.location.href);
      if (position) url.searchParams.set("min_position", position);
      const r = await fetch(url, { credentials: "same-origin", headers: { "X-CRM-Live": "1" } });
      if (r.status === 200) {
        const doc = new DOMParser().parseFromString(await r.text(), "text/html");
        const fresh = doc.getElementById("main");
        const active = document.activeElement;
        const inForm = active && main.contains(active) && active.closest("form");
        if (fresh && !inForm) {
          main.innerHTML = fresh.innerHTML;
          setupSorting(main);
          document.body.dataset.refreshed = String(position);
        }
      }
    } catch (_) { /* the next change tries again */ }
    busy = false;
    if (again !== null) { const p = again; again = null; refresh(p); }
  }
  // One stream while the page is shown. Leaving the page closes it: a page kept in
  // the back/forward cache would otherwise hold its connection open, and a browser
  // allows only six per host, so after a few pages the next one could not load.
  let source = null;
  function connect() {
    source = new EventSource("/ui/live");
    source.addEventListener("open", () => document.body.classList.add("live-on"));
    source.addEventListener("error", () => document.body.classList.remove("live-on"));
    source.addEventListener("change", (e) => refresh(e.data));
  }
  connect();
  window.addEventListener("pagehide", () => {
    if (source) { source.close(); source = null; }
    document.body.classList.remove("live-on");
  });
  window.addEventListener("pageshow", (e) => {
    if (e.persisted && !source) { connect(); refresh(""); }
  });
  // Work in progress that no new event announces (a projection being built from the
  // log): while the page shows some ([data-poll]), it asks again every two seconds.
  window.setInterval(() => {
    if (main.querySelector("[data-poll]")) refresh("");
  }, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  setupLogout();
  setupSorting(document);
  setupLive();
});
