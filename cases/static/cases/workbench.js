/* Small behaviours shared by the admin pages; no inline scripts (CSP-friendly). */
(function () {
  "use strict";
  document.addEventListener("change", (event) => {
    const el = event.target;
    if (el.matches("select[data-navigate]")) window.location.href = el.value;
    if (el.matches("select[data-autosubmit]")) el.form.submit();
  });
  // Export progress: poll the job until it is done, then reload for the link.
  const bars = document.querySelectorAll("progress[data-export-status]");
  bars.forEach((bar) => {
    if (Number(bar.value) >= 100) return;
    const poll = () => fetch(bar.dataset.exportStatus, { credentials: "same-origin" })
      .then((r) => r.json())
      .then((s) => {
        bar.value = s.percent;
        const label = bar.parentElement.querySelector(".export-percent");
        if (label) label.textContent = `${s.percent}%`;
        if (s.status === "done" || s.status === "failed") window.location.reload();
        else setTimeout(poll, 2000);
      });
    setTimeout(poll, 1000);
  });
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-print]")) window.print();
  });
})();
