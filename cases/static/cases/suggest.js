/* 智能派单: the model's suggestions. On the dispatch form (rendered by the server)
   one click fills the unit; on the intake form the panel is looked up (debounced)
   while the operator types, and one click fills the category. The dispatcher still
   confirms. Plain JavaScript, no CDN. */
(function () {
  "use strict";
  function text(el, content) { el.textContent = content; return el; }
  function make(tag, cls) { const el = document.createElement(tag); if (cls) el.className = cls; return el; }

  document.querySelectorAll("button.use-unit").forEach((button) => {
    button.addEventListener("click", () => {
      const select = document.querySelector("select[name=department]");
      if (!select) return;
      select.value = button.dataset.unit;
      select.dispatchEvent(new Event("change", { bubbles: true }));
      select.focus();
    });
  });

  const root = document.querySelector(".intake");
  const form = document.getElementById("intake-form");
  const panel = document.getElementById("suggest-panel");
  if (!root || !form || !panel || !root.dataset.suggestUrl) return;
  const url = root.dataset.suggestUrl;
  const body = document.getElementById("suggest-body");
  const field = (name) => form.elements.namedItem(name);
  const value = (name) => (field(name) ? field(name).value || "" : "");
  let timer = null;
  let lastQuery = "";

  function render(data) {
    body.replaceChildren();
    if (!data.available) {
      panel.hidden = !data.message;
      if (data.message) body.append(text(make("p", "help"), data.message));
      return;
    }
    panel.hidden = false;
    if (data.disagreement) {
      const rule = data.rule_unit ? data.rule_unit.name : "";
      const model = data.units.length ? data.units[0].name : "";
      body.append(text(make("p", "errornote suggestion-disagrees"),
                       `${data.disagreement}：${gettext("职责清单")} ${rule} · ${gettext("模型")} ${model}`));
    }
    const cats = make("ul", "suggested-categories");
    data.categories.forEach((c) => {
      const li = make("li");
      const use = make("button", "button use-category"); use.type = "button";
      text(use, `${c.name} · ${c.percent}%`);
      use.addEventListener("click", () => {
        if (window.hotlineIntake) window.hotlineIntake.setCategory({ id: c.id, name: c.name });
      });
      li.append(use);
      if (c.rule_unit) li.append(make("br"), text(make("span", "help"), `${gettext("职责清单")}：${c.rule_unit.name}`));
      cats.append(li);
    });
    body.append(text(make("strong"), gettext("建议分类")), cats);
    const units = make("ul", "suggested-units");
    data.units.forEach((u) => {
      const note = u.allowed ? "" : ` (${gettext("不在职责清单内")})`;
      units.append(text(make("li"), `${u.name} · ${u.percent}%${note}`));
    });
    body.append(text(make("strong"), gettext("建议主办单位")), units);
    if (data.neighbours.length) {
      const list = make("ul", "suggestion-neighbours");
      data.neighbours.forEach((n) => {
        const li = make("li");
        const link = make("a"); link.href = n.url; link.target = "_blank"; text(link, n.number);
        li.append(link, " ", text(make("span"), n.summary), make("br"),
                  text(make("span", "help"), `${n.category} · ${n.unit}`));
        list.append(li);
      });
      body.append(text(make("strong"), gettext("相似历史工单")), list);
    }
  }

  function lookup() {
    const params = new URLSearchParams({
      content: value("content"),
      address: value("address"),
      channel: value("channel"),
      grid: value("grid"),
    });
    const query = params.toString();
    if (query === lastQuery) return;
    lastQuery = query;
    if (!value("content").trim()) { panel.hidden = true; return; }
    fetch(`${url}?${query}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => { if (data && query === lastQuery) render(data); })
      .catch(() => {});
  }

  function schedule() { clearTimeout(timer); timer = setTimeout(lookup, 500); }
  ["address", "content"].forEach((name) => { if (field(name)) field(name).addEventListener("input", schedule); });
  ["channel", "grid"].forEach((name) => {
    const el = field(name);
    if (!el) return;
    el.addEventListener("change", schedule);
    if (window.django && window.django.jQuery) window.django.jQuery(el).on("change select2:select select2:clear", schedule);
  });
  if (value("content")) lookup();
})();
