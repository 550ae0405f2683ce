/* The wall screen: fetches its numbers every data-refresh seconds (no page reload)
   and turns its panels every data-rotate seconds; no clicks needed.
   window.wallRefresh() runs one refresh now (the browser test calls it). */
(function () {
  "use strict";
  const root = document.getElementById("wall");
  if (!root || !window.echarts || !window.HotlineMap) return;
  const gettext = window.gettext || ((s) => s);
  const map = window.HotlineMap(document.getElementById("wall-map"), { geoUrl: root.dataset.geoUrl, dark: true, metric: "overdue" });
  const ROTATION = ["overdue", "open", "volume", "satisfaction", "spikes"];
  const TITLES = {
    overdue: gettext("属地地图 · 当前超期"), open: gettext("属地地图 · 当前未办结"), volume: gettext("属地地图 · 今日受理"),
    satisfaction: gettext("属地地图 · 今日满意率"), spikes: gettext("属地地图 · 今日突增预警"),
  };
  let turn = 0;
  root.dataset.refreshes = "0";

  function counters(items) {
    const box = document.getElementById("wall-counters");
    box.replaceChildren(...items.map((c) => {
      const div = document.createElement("div");
      div.className = `wall-counter ${c.key}`;
      div.dataset.key = c.key;
      const v = document.createElement("span"); v.className = "value"; v.textContent = c.value;
      const l = document.createElement("span"); l.className = "label"; l.textContent = c.label;
      div.append(v, l);
      return div;
    }));
  }

  function red(kinds) {
    const box = document.getElementById("wall-red");
    if (!kinds.length) {
      const p = document.createElement("p");
      p.className = "wall-empty";
      p.textContent = gettext("暂无达到排名件数的单位。");
      box.replaceChildren(p);
      return;
    }
    box.replaceChildren(...kinds.slice(0, 2).map((k) => {
      const div = document.createElement("div");
      div.className = "wall-kind";
      const h = document.createElement("h3"); h.textContent = k.kind;
      const ol = document.createElement("ol");
      ol.append(...k.units.map((u) => {
        const li = document.createElement("li");
        const n = document.createElement("span"); n.textContent = `${u.rank}. ${u.name}`;
        const s = document.createElement("span"); s.className = "score"; s.textContent = u.value ?? "—";
        li.append(n, s);
        return li;
      }));
      div.append(h, ol);
      return div;
    }));
  }

  function spikes(rows) {
    const body = document.getElementById("wall-spikes");
    body.replaceChildren(...rows.map((s) => {
      const tr = document.createElement("tr");
      [s.day.slice(5), s.community, s.category, s.count].forEach((cell) => {
        const td = document.createElement("td"); td.textContent = cell; tr.append(td);
      });
      return tr;
    }));
    document.getElementById("wall-spikes-empty").hidden = rows.length > 0;
  }

  function setMetric(metric) {
    map.setMetric(metric);
    document.getElementById("wall-map-title").textContent = TITLES[metric];
  }

  async function refresh() {
    const response = await fetch(root.dataset.url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const d = await response.json();
    document.getElementById("wall-as-of").textContent = d.as_of;
    counters(d.counters);
    red(d.red_units);
    spikes(d.spikes);
    await map.show(d.map);
    setMetric(map.metric());
    root.dataset.refreshes = String(Number(root.dataset.refreshes) + 1);
  }

  function rotate() {
    turn += 1;
    const red = document.getElementById("panel-red");
    const spikesPanel = document.getElementById("panel-spikes");
    red.hidden = turn % 2 === 1;
    spikesPanel.hidden = !red.hidden;
    setMetric(ROTATION[turn % ROTATION.length]);
  }

  window.wallRefresh = refresh;
  window.wallRotate = rotate;
  refresh();
  setInterval(refresh, Number(root.dataset.refresh) * 1000);
  setInterval(rotate, Number(root.dataset.rotate) * 1000);
})();
