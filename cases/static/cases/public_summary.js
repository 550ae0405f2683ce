/* The reply form's 公开答复摘要: while the handler has not edited it, it follows the
   reply text, scrubbed by the server (cases.public) exactly as it will be stored. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const summary = document.querySelector("textarea[data-scrub-url]");
    const text = summary && summary.form.querySelector("textarea[name=text]");
    if (!text) return;
    const token = summary.form.querySelector("input[name=csrfmiddlewaretoken]");
    let edited = false;
    let timer = null;
    summary.addEventListener("input", () => { edited = true; });
    const refresh = () => {
      if (edited) return;
      const body = new URLSearchParams({ text: text.value });
      fetch(summary.dataset.scrubUrl, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": token ? token.value : "" },
      })
        .then((r) => (r.ok ? r.json() : null))
        .then((data) => { if (data && !edited) summary.value = data.summary; })
        .catch(() => {});
    };
    text.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 400);
    });
  });
})();
