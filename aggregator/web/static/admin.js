// The admin's two bits of script: copy buttons for embed codes, and the source
// health table refreshing itself. Both pages work without it.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const id = button.dataset.copy;
  const field = document.getElementById(id);
  const note = document.querySelector(`[data-copied="${id}"]`);
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    // No clipboard API (plain http, older browser): select it for Ctrl-C instead.
    field.focus();
    field.select();
    document.execCommand("copy");
  }
  if (note) note.textContent = "Copied.";
});

function when(value) {
  if (!value) return "";
  const d = new Date(value);
  return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

async function refreshHealth(table) {
  const event = table.dataset.event;
  const url = "/admin/health.json" + (event ? "?event=" + encodeURIComponent(event) : "");
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) return;
  const data = await response.json();
  for (const source of data.sources) {
    const row = table.querySelector(`tr[data-source="${CSS.escape(source.id)}"]`);
    if (!row) continue;
    const cells = {
      items: String(source.items),
      last_success_at: source.last_success_at ? when(source.last_success_at) : "never",
      consecutive_failures: String(source.consecutive_failures),
      last_error: source.last_error || "",
      next_check_at: when(source.next_check_at),
      lease_owner: source.lease_owner ? `fetching (${source.lease_owner})` : "",
    };
    for (const [field, text] of Object.entries(cells)) {
      const cell = row.querySelector(`[data-field="${field}"]`);
      if (cell) cell.textContent = text;
    }
    const failures = row.querySelector('[data-field="consecutive_failures"]');
    if (failures) failures.className = source.consecutive_failures ? "status-failing" : "status-ok";
  }
}

for (const table of document.querySelectorAll("table#health")) {
  setInterval(() => refreshHealth(table).catch(() => {}), 15000);
}
