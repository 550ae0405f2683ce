/* Small behaviours shared by the admin pages; no inline scripts (CSP-friendly). */
(function () {
  "use strict";
  document.addEventListener("change", (event) => {
    const el = event.target;
    if (el.matches("select[data-navigate]")) window.location.href = el.value;
    if (el.matches("select[data-autosubmit]")) el.form.submit();
  });
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-print]")) window.print();
  });
})();
