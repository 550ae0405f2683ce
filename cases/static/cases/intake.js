/* Live-call intake: while the operator types, look up the place, possible
   duplicates and knowledge-base answers. A new lookup goes out (debounced) when
   the content, the phone, the address, the grid or the category changes.
   Plain JavaScript, no CDN. */
(function () {
  "use strict";
  const root = document.querySelector(".intake");
  const form = document.getElementById("intake-form");
  if (!root || !form) return;
  const url = root.dataset.lookupUrl;
  const field = (name) => form.elements.namedItem(name);
  const value = (name) => (field(name) ? field(name).value || "" : "");
  let timer = null;
  let lastQuery = "";

  function text(el, content) { el.textContent = content; return el; }
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
      li.append(link, " ", text(make("strong", "duplicate-reason"), d.reason), " ",
                text(make("span", "help"), `${d.received_at} · ${d.state}`), make("br"),
                text(make("span"), d.content), make("br"));
      const button = make("button", "button merge-button");
      button.type = "submit"; button.name = "_action"; button.value = `merge:${d.id}`;
      text(button, gettext("并入此单"));
      li.append(button);
      list.append(li);
    });
  }

  // Declared incidents (停水、停电…) matching the call's category and place: one click links the call.
  function renderIncidents(items) {
    const panel = document.getElementById("incidents-panel");
    const list = document.getElementById("incidents-list");
    if (!panel || !list) return;
    list.replaceChildren();
    panel.hidden = !items || items.length === 0;
    (items || []).forEach((i) => {
      const li = make("li", "incident");
      li.append(text(make("strong"), `${i.kind} · ${i.title}`), " ",
                text(make("span", "help"), `${i.declared_by} · ${i.starts_at}${i.expected_end_at ? " – " + i.expected_end_at : ""}`),
                make("br"), text(make("span", "incident-notice"), i.notice), make("br"));
      [["incident_answer", gettext("以公告直接答复")], ["incident_attach", gettext("并入事件主工单")]].forEach(([how, label]) => {
        const button = make("button", "button");
        button.type = "submit"; button.name = "_action"; button.value = `${how}:${i.id}`;
        li.append(text(button, label), " ");
      });
      list.append(li);
    });
  }

  function setCategory(category) {
    const select = field("category");
    if (!select || !category) return;
    const id = String(category.id);
    if (![...select.options].some((o) => o.value === id)) select.add(new Option(category.name, id, false, false));
    select.value = id;
    // Tell select2 (it listens to jQuery's change); that change also refreshes the panels.
    if (window.django && window.django.jQuery) window.django.jQuery(select).trigger("change");
  }

  // The suggestion panel (suggest.js) fills the category the same way.
  window.hotlineIntake = { setCategory };

  function useAnswer(a, li) {
    field("answer_text").value = a.answer;
    if (field("knowledge")) field("knowledge").value = a.id;
    if (field("nature")) field("nature").value = a.nature;
    if (!field("content").value.trim()) field("content").value = a.question;
    document.querySelectorAll("#knowledge-list li.chosen").forEach((el) => el.classList.remove("chosen"));
    li.classList.add("chosen");
    const chosen = document.getElementById("knowledge-chosen");
    chosen.hidden = false;
    text(chosen, interpolate(gettext("已选用口径：%s。可直接答复办结。"), [a.question]));
    setCategory(a.category);
    document.getElementById("answer-submit").focus();
  }

  function renderKnowledge(items) {
    const list = document.getElementById("knowledge-list");
    if (!list) return;
    list.replaceChildren();
    if (!items.length) { list.append(text(make("li", "help"), gettext("没有匹配的知识库口径。"))); return; }
    const picked = value("knowledge");
    items.forEach((a) => {
      const li = make("li", "knowledge");
      if (String(a.id) === picked) li.classList.add("chosen");
      li.append(text(make("strong"), a.question), make("br"), text(make("span"), a.answer));
      if (a.category) li.append(make("br"), text(make("span", "help"), a.category.name));
      const use = make("button", "button use-answer"); use.type = "button"; text(use, gettext("使用此口径"));
      use.addEventListener("click", () => useAnswer(a, li));
      li.append(make("br"), use);
      list.append(li);
    });
  }

  function lookup() {
    const params = new URLSearchParams({
      phone: value("citizen_phone"),
      address: value("address"),
      content: value("content"),
      category: value("category"),
      grid: value("grid"),
    });
    const query = params.toString();
    if (query === lastQuery) return;
    lastQuery = query;
    fetch(`${url}?${query}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (!data || query !== lastQuery) return;
        renderTerritory(data.territory);
        renderDuplicates(data.duplicates);
        renderIncidents(data.incidents);
        renderKnowledge(data.knowledge);
      })
      .catch(() => {});
  }

  function schedule() { clearTimeout(timer); timer = setTimeout(lookup, 400); }
  ["citizen_phone", "address", "content"].forEach((name) => { if (field(name)) field(name).addEventListener("input", schedule); });
  ["category", "grid"].forEach((name) => {
    const el = field(name);
    if (!el) return;
    el.addEventListener("change", schedule);
    // select2 announces a choice through jQuery only.
    if (window.django && window.django.jQuery) window.django.jQuery(el).on("change select2:select select2:clear", schedule);
  });
  // After a failed save the form comes back filled in: show its panels again at once.
  if (value("content") || value("address") || value("citizen_phone") || value("category")) lookup();
})();
