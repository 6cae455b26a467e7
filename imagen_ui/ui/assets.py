"""The page's own JavaScript and CSS, handed to Gradio's launch()."""

# Two things the page does in the browser, for free:
# - Ctrl/Cmd+Enter in the prompt presses the picked model's Generate (a multi-line box keeps Enter
#   for new lines); only the picked model's button is visible.
# - In-progress status lines count the seconds since the click. The server sends a line only when
#   its state changes (each update costs it a Gradio event), so the ticking happens here.
PAGE_JS = """
() => {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    if (!event.target.closest || !event.target.closest("#prompt")) return;
    event.preventDefault();
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
  const running = (line) => /^[^:]*: (queued|starting|processing)/.test(line.textContent);
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
  document.body.dataset.shortcuts = "ready";  // lets a test (or a script) know the page's code runs
}
"""
CSS = """
#offline-banner { border: 1px solid var(--color-accent); border-radius: 8px; padding: 4px 12px;
                  background: var(--color-accent-soft); }
#status p { margin: 2px 0; }
.model-problem { color: var(--error-text-color); }
footer { display: none !important; }
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
