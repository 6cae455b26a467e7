"""The page's own JavaScript and CSS, handed to Gradio's launch()."""

import json

from imagen_ui.ui.session import TOAST_TITLES

# Two things the page does in the browser, for free:
# - Ctrl/Cmd+Enter in the prompt presses the picked model's Generate (a multi-line box keeps Enter
#   for new lines); only the picked model's button is visible.
# - In-progress status lines count the seconds since the click. The server sends a line only when
#   its state changes (each update costs it a Gradio event), so the ticking happens here.
PAGE_JS = """
() => {
  const TOAST_TITLES = %s;
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    if (!event.target.closest || !event.target.closest("#prompt")) return;
    event.preventDefault();
    if (document.body.dataset.running === "status") return;  // one click at a time: no silent drop
    const buttons = [...document.querySelectorAll("button.generate-button")];
    buttons.find((button) => button.offsetParent !== null)?.click();
  });

  const statusOf = [["button.generate-button", "status"], ["#compare-run", "compare-status"]];
  const clickedAt = new Map();  // status box id -> when its button was last pressed
  document.addEventListener("click", (event) => {
    for (const [selector, box] of statusOf) {
      if (event.target.closest && event.target.closest(selector)) clickedAt.set(box, performance.now());
    }
  }, true);
  const running = (line) => /^[^:]*: (queued|uploading|sent|starting|processing)/.test(line.textContent);
  setInterval(() => {
    for (const [, box] of statusOf) {
      const lines = [...(document.getElementById(box)?.querySelectorAll("p") ?? [])];
      // A click made before this code ran (a fast first click) counts from when it is first seen.
      if (!clickedAt.has(box) && lines.some(running)) clickedAt.set(box, performance.now());
      const seconds = ((performance.now() - (clickedAt.get(box) ?? 0)) / 1000).toFixed(1);
      for (const line of lines) {
        let tick = line.querySelector("span.elapsed");
        if (running(line) && !tick) {
          tick = line.appendChild(document.createElement("span"));
          tick.className = "elapsed";
        }
        if (tick) tick.textContent = running(line) ? ` ${seconds} s` : "";
      }
    }
  }, 200);

  // A click's state. Right after a click, or while any image is still on its way, its Generate says
  // "Generating…" and takes no second click, and Cancel is live; otherwise Cancel is quiet.
  const controls = {status: ["button.generate-button", "#cancel"],
                    "compare-status": ["#compare-run", "#compare-cancel"]};
  const busy = {};
  const busyNow = (box) => {
    const lines = [...(document.getElementById(box)?.querySelectorAll("p") ?? [])];
    return performance.now() - (clickedAt.get(box) ?? -1e9) < 1500 || lines.some(running);
  };
  const ready = (box) => {
    if (!document.hidden) return;
    const what = box === "status" ? "Your images are ready" : "Your comparison is ready";
    if ("Notification" in window && Notification.permission === "granted") {
      new Notification("imagen-ui", {body: what});
    }
    if (!document.title.startsWith("✓ ")) document.title = "✓ " + what + " · " + document.title;
  };
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) document.title = document.title.replace(/^✓ [^·]*· /, "");
  });
  setInterval(() => {
    for (const [box, [run, stop]] of Object.entries(controls)) {
      const now = busyNow(box);
      if (busy[box] && !now) ready(box);
      busy[box] = now;
      for (const button of document.querySelectorAll(run)) {
        button.classList.toggle("busy", now);
        button.setAttribute("aria-disabled", String(now));
        button.dataset.busyLabel = box === "status" ? "Generating…" : "Comparing…";
      }
      document.querySelector(stop)?.classList.toggle("live", now);
    }
    document.body.dataset.running = Object.keys(busy).filter((box) => busy[box]).join(" ");
  }, 200);

  // On a phone the results are below the form: bring them into view when Generate is pressed.
  document.addEventListener("click", (event) => {
    if (!event.target.closest?.("button.generate-button") || window.innerWidth > 768) return;
    setTimeout(() => document.getElementById("gallery")?.scrollIntoView({block: "start", behavior: "smooth"}), 150);
  });

  // Screen readers hear the status as it changes; gallery images are described by their prompt.
  let prompted = "";
  document.addEventListener("click", (event) => {
    if (event.target.closest?.("button.generate-button")) {
      prompted = document.querySelector("#prompt textarea")?.value ?? "";
    }
  }, true);
  new MutationObserver(() => {
    for (const id of ["status", "compare-status"]) {
      const box = document.getElementById(id);
      if (box && !box.hasAttribute("aria-live")) { box.setAttribute("aria-live", "polite"); box.setAttribute("role", "status"); }
    }
    for (const image of document.querySelectorAll("#gallery img, #compare-gallery img")) {
      const caption = image.closest("button")?.querySelector(".caption-label")?.textContent ?? "";
      const alt = [prompted.slice(0, 300), caption].filter(Boolean).join(" — ") || "generated image";
      if (image.alt !== alt) image.alt = alt;
    }
    // Gradio 6 titles every error toast "Error": our messages lead with their real title.
    for (const text of document.querySelectorAll(".toast-message-text:not([data-titled])")) {
      text.dataset.titled = "1";
      const title = TOAST_TITLES.find((t) => text.textContent.trim().startsWith(t + ": "));
      if (!title) continue;
      text.textContent = text.textContent.trim().slice(title.length + 2);
      const body = text.closest(".toast-body");
      const head = body?.querySelector(".toast-title");
      if (head) head.textContent = title;
      // One message at a time: an older one in the same toast is hidden, not piled up.
      const items = [...(body?.querySelectorAll(".toast-message-item") ?? [])];
      items.slice(0, -1).forEach((item) => { item.style.display = "none"; });
    }
  }).observe(document.body, {childList: true, subtree: true});

  // History: the details of a picked image, and the delete confirmation, open where they are seen.
  const seen = new Map();
  setInterval(() => {
    for (const id of ["history-details", "history-confirm-box"]) {
      const box = document.getElementById(id);
      const shown = Boolean(box && box.offsetParent !== null);
      if (shown && !seen.get(id)) {
        const r = box.getBoundingClientRect();
        if (r.bottom > innerHeight || r.top < 0) box.scrollIntoView({block: "nearest", behavior: "smooth"});
      }
      seen.set(id, shown);
    }
  }, 150);

  // A browser notification when a long click ends in a background tab, if the person asks for it.
  document.addEventListener("click", (event) => {
    if (event.target.closest?.("#notify-me") && "Notification" in window) {
      Notification.requestPermission().then(() => {
        document.getElementById("notify-me")?.classList.toggle("granted", Notification.permission === "granted");
      });
    }
  });
  if (!("Notification" in window) || Notification.permission !== "default") {
    document.documentElement.classList.add("notify-decided");
  }

  // A character counter near the prompt's limit (the model's limit rides on a class: limit-N).
  const counter = () => {
    const box = document.getElementById("prompt");
    const area = box?.querySelector("textarea");
    if (!area) return;
    const limit = Number([...box.classList].find((c) => c.startsWith("limit-"))?.slice(6) ?? 0);
    let note = box.querySelector(".prompt-count");
    if (!note) { note = document.createElement("div"); note.className = "prompt-count"; note.setAttribute("aria-live", "polite"); box.appendChild(note); }
    const length = area.value.length;
    const near = limit && length >= 0.8 * limit;
    note.textContent = near ? `${length.toLocaleString()} / ${limit.toLocaleString()} characters` : "";
    note.classList.toggle("over", Boolean(limit) && length > limit);
  };
  document.addEventListener("input", (event) => { if (event.target.closest?.("#prompt")) counter(); });
  setInterval(counter, 1000);  // also after Examples or Reuse settings fill the box
  document.body.dataset.shortcuts = "ready";  // lets a test (or a script) know the page's code runs
}
"""
PAGE_JS = PAGE_JS.replace("%s", json.dumps(TOAST_TITLES), 1)
CSS = """
#offline-banner { border: 1px solid var(--color-accent); border-radius: 8px; padding: 4px 12px;
                  background: var(--color-accent-soft); }
#status p { margin: 2px 0; }
.model-problem { color: var(--error-text-color); }
footer { display: none !important; }
/* A click's state (see PAGE_JS): Generate says it is working and takes no second click;
   Cancel looks urgent only while there is something to cancel. */
button.busy { position: relative; color: transparent !important; pointer-events: none; opacity: 0.85; }
button.busy::after { content: attr(data-busy-label); position: absolute; inset: 0; display: flex;
                     align-items: center; justify-content: center; color: var(--button-primary-text-color); }
#cancel.live, #compare-cancel.live { background: var(--button-cancel-background-fill);
                                     color: var(--button-cancel-text-color);
                                     border-color: var(--button-cancel-border-color); }
/* Failed images say why on their tiles and status lines: Gradio's red "Error" badge would cover
   that sentence and linger over the next good images. The toast still says it once. */
#gallery .error, #status .error, #compare-gallery .error, #compare-status .error { display: none !important; }
#notify { min-height: 0; }
#notify-me { background: none; border: none; padding: 0; color: var(--neutral-600);
             text-decoration: underline; cursor: pointer; font-size: var(--text-sm); font-weight: normal;
             text-align: left; }
/* Tiles sized to the images: no inner scrollbar cutting a row, no square tiles with grey bands. */
#gallery .grid-wrap.fixed-height, #compare-gallery .grid-wrap.fixed-height,
#history-gallery .grid-wrap.fixed-height { max-height: none; min-height: 0; height: auto; overflow: visible; }
#history-search-row { align-items: stretch; }
#history-search-row > * { min-height: 42px; }
@media (max-width: 640px) { #gallery .caption-label, #compare-gallery .caption-label { font-size: 11px; } }
#gallery .thumbnail-item, #compare-gallery .thumbnail-item { aspect-ratio: auto; height: auto; }
#gallery .thumbnail-item img, #compare-gallery .thumbnail-item img { height: auto; max-height: 70vh; }
.notify-decided #notify-me, #notify-me.granted { display: none; }
.prompt-count { text-align: right; font-size: var(--text-sm); color: var(--neutral-600);
                padding: 0 var(--spacing-md); }
/* Help text at WCAG AA contrast (4.5:1) in both themes: Gradio's own info grey is 1.9:1 on white. */
.info-text { color: var(--neutral-600) !important; }
/* One selector per .dark rule: Gradio scopes only the first selector of a list under .dark. */
.dark #notify-me { color: var(--neutral-300) !important; }
.dark .prompt-count { color: var(--neutral-300) !important; }
.dark .info-text { color: var(--neutral-300) !important; }
.prompt-count.over { color: var(--error-text-color); font-weight: 600; }
#batch-rows .batch-table { width: 100%; border-collapse: collapse; border: none; margin: 0;
                           font-size: var(--text-sm); }
#batch-rows .batch-table th, #batch-rows .batch-table td {
  text-align: left; vertical-align: top; padding: 4px 6px; border: none;
  border-bottom: 1px solid var(--border-color-primary); }
.batch-table td.batch-prompt { overflow-wrap: anywhere; }
.batch-table td.batch-images { white-space: nowrap; }
#batch-rows .batch-table img { display: inline-block; height: 56px; width: auto; margin: 0 4px 0 0;
                               border-radius: 4px; }
.batch-failed td.batch-status, .batch-partial td.batch-status { color: var(--error-text-color); }
#batch-rows { max-height: 520px; overflow-y: auto; }
#batch-rows table, #batch-rows thead, #batch-rows tbody, #batch-rows tr { border: none !important; }
"""
