/* The dashboard's map: drill-down from the city to a grid, a metric switch, and a
   link to the tickets of the place shown (the ticket list filtered to it). The
   period is the dashboard's own (the page's query string). */
(function () {
  "use strict";
  const section = document.getElementById("map-section");
  if (!section || !window.echarts || !window.HotlineMap) return;
  const trail = document.getElementById("map-trail");
  const link = document.getElementById("map-tickets");
  const changelist = section.dataset.changelist;
  const params = new URLSearchParams(window.location.search);
  params.delete("level");
  params.delete("parent");
  // the path drilled so far: [{ level, parent, name, url }]
  const path = [{ level: "district", parent: null, name: null, url: `${changelist}?state=all` }];
  const map = window.HotlineMap(document.getElementById("chart-map"), {
    geoUrl: section.dataset.geoUrl,
    onClick(place, feature, payload) {
      const name = feature ? feature.name : String(place.id);
      const url = place.url || `${changelist}?${payload.level === "grid" ? "grid" : "territory"}=${place.id}&state=all`;
      if (payload.next_level) {
        path.push({ level: payload.next_level, parent: place.id, name, url });
        load();
      } else {
        window.location.href = url;
      }
    },
  });

  function renderTrail() {
    const buttons = [...trail.querySelectorAll("button")];
    buttons.slice(1).forEach((b) => b.remove());
    path.slice(1).forEach((step, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "button";
      b.dataset.depth = String(i + 1);
      b.textContent = step.name;
      trail.append(b);
    });
    link.href = path[path.length - 1].url;
  }

  async function load() {
    const step = path[path.length - 1];
    const query = new URLSearchParams(params);
    query.set("level", step.level);
    if (step.parent) query.set("parent", step.parent);
    section.dataset.ready = "false";
    renderTrail();
    const response = await fetch(`${section.dataset.dataUrl}?${query}`, { credentials: "same-origin" });
    await map.show(await response.json());
    section.dataset.ready = "true";
  }

  trail.addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (!b) return;
    path.length = Number(b.dataset.depth) + 1;
    load();
  });
  document.getElementById("map-metrics").addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (!b) return;
    document.querySelectorAll("#map-metrics button").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
    map.setMetric(b.dataset.metric);
  });
  window.hotlineMap = { map, path, load };
  load();
})();
