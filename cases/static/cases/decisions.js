// 办理反馈常用语: a click fills the reply text; only the chosen result's templates show.
// Needs the JavaScript catalogue (gettext) loaded before it, as action.html does.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    const box = document.getElementById("reply-templates");
    const text = document.querySelector("textarea[name=text]");
    if (!box || !text) return;
    function filter() {
      const chosen = document.querySelector("input[name=result]:checked");
      const result = chosen ? chosen.value : "";
      box.querySelectorAll("li[data-result]").forEach(function (li) {
        li.hidden = Boolean(result && li.dataset.result && li.dataset.result !== result);
      });
    }
    document.querySelectorAll("input[name=result]").forEach(function (input) {
      input.addEventListener("change", filter);
    });
    box.addEventListener("click", function (event) {
      const button = event.target.closest("button.reply-template");
      if (!button) return;
      const current = text.value.trim();
      if (current && current !== button.dataset.text && !window.confirm(gettext("用此常用语替换已填写的内容？"))) return;
      text.value = button.dataset.text;
      text.focus();
    });
    filter();
  });
})();
