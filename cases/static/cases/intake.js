/* Live-call intake: while the operator types, look up the place, possible
   duplicates and knowledge-base answers. Plain JavaScript, no CDN. */
(function () {
  "use strict";
  const root = document.querySelector(".intake");
  const form = document.getElementById("intake-form");
  if (!root || !form) return;
  const url = root.dataset.lookupUrl;
  const field = (name) => form.elements.namedItem(name);
  let timer = null;
  let lastQuery = "";

  function text(el, value) { el.textContent = value; return el; }
  function make(tag, cls) { const el = document.createElement(tag); if (cls) el.className = cls; return el; }

  function renderTerritory(t) {
    const parts = [t.district, t.street, t.community, t.grid].filter(Boolean).map((x) => x.name);
    text(document.getElementById("territory-text"), parts.length ? parts.join(" › ") : gettext("未能从地址识别属地，可手动选择网格。"));
  }

  function renderDuplicates(items) {
    const panel = document.getElementById("duplicates-panel");
    const list = document.getElementById("duplicates-list");
    list.replaceChildren();
    panel.hidden = items.length === 0;
    items.forEach((d) => {
      const li = make("li", "duplicate");
      const link = make("a"); link.href = d.url; link.target = "_blank"; text(link, d.number);
      li.append(link, " ", text(make("span", "help"), `${d.reason} · ${d.received_at} · ${d.state}`), make("br"),
                text(make("span"), d.content), make("br"));
      const button = make("button", "button merge-button");
      button.type = "submit"; button.name = "_action"; button.value = `merge:${d.id}`;
      text(button, gettext("并入此单"));
      li.append(button);
      list.append(li);
    });
  }

  function renderKnowledge(items) {
    const list = document.getElementById("knowledge-list");
    list.replaceChildren();
    if (!items.length) { list.append(text(make("li", "help"), gettext("没有匹配的知识库口径。"))); return; }
    items.forEach((a) => {
      const li = make("li", "knowledge");
      li.append(text(make("strong"), a.question), make("br"), text(make("span"), a.answer));
      const use = make("button", "button use-answer"); use.type = "button"; text(use, gettext("使用此口径"));
      use.addEventListener("click", () => { field("answer_text").value = a.answer; field("answer_text").focus(); });
      li.append(make("br"), use);
      list.append(li);
    });
  }

  function lookup() {
    const params = new URLSearchParams({
      phone: field("citizen_phone").value || "",
      address: field("address").value || "",
      content: field("content").value || "",
      category: field("category").value || "",
    });
    const query = params.toString();
    if (query === lastQuery) return;
    lastQuery = query;
    fetch(`${url}?${query}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (!data) return;
        renderTerritory(data.territory);
        renderDuplicates(data.duplicates);
        renderKnowledge(data.knowledge);
      })
      .catch(() => {});
  }

  function schedule() { clearTimeout(timer); timer = setTimeout(lookup, 400); }
  ["citizen_phone", "address", "content"].forEach((name) => field(name).addEventListener("input", schedule));
  field("category").addEventListener("change", schedule);
  if (window.django && window.django.jQuery) window.django.jQuery(field("category")).on("change", schedule);
})();
