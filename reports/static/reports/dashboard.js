/* The dashboard: one JSON request, then every chart with ECharts (served from our
   own static files). No inline scripts, no CDN. */
(function () {
  "use strict";
  const root = document.querySelector(".dashboard");
  if (!root || !window.echarts) return;
  const gettext = window.gettext || ((s) => s);
  const charts = [];

  function chart(id, option) {
    const el = document.getElementById(id);
    if (!el) return;
    const c = window.echarts.init(el, null, { renderer: "canvas" });
    c.setOption(option);
    charts.push(c);
  }
  const bars = (items, horizontal) => ({
    tooltip: { trigger: "axis" },
    grid: { left: horizontal ? 120 : 40, right: 20, top: 10, bottom: horizontal ? 20 : 60 },
    xAxis: horizontal ? { type: "value" } : { type: "category", data: items.map((i) => i.name), axisLabel: { rotate: 30 } },
    yAxis: horizontal ? { type: "category", data: items.map((i) => i.name).reverse() } : { type: "value" },
    series: [{ type: "bar", data: horizontal ? items.map((i) => i.value).reverse() : items.map((i) => i.value) }],
  });
  const pie = (items) => ({
    tooltip: { trigger: "item" },
    legend: { bottom: 0 },
    series: [{ type: "pie", radius: ["35%", "65%"], data: items.filter((i) => i.value > 0) }],
  });
  const pct = (v) => (v === null || v === undefined ? "—" : `${v}%`);

  function kpis(k) {
    const box = document.getElementById("kpis");
    const items = [
      [gettext("受理量"), k.received], [gettext("派单量"), k.dispatched], [gettext("办结量"), k.closed],
      [gettext("未诉先办"), k.proactive], [gettext("响应率"), pct(k.response)], [gettext("解决率"), pct(k.resolution)],
      [gettext("满意率"), pct(k.satisfaction)], [gettext("综合得分"), pct(k.composite)],
      [gettext("按期办结率"), pct(k.on_time)], [gettext("签收及时率"), pct(k.sign_on_time)],
      [gettext("退单率"), pct(k.return_rate)], [gettext("延期率"), pct(k.extension_rate)],
      [gettext("重办率"), pct(k.reopen_rate)], [gettext("平均办理时长(小时)"), k.avg_handling_hours ?? "—"],
    ];
    box.replaceChildren(...items.map(([label, value]) => {
      const div = document.createElement("div");
      div.className = "kpi";
      const v = document.createElement("span"); v.className = "value"; v.textContent = value;
      const l = document.createElement("span"); l.className = "label"; l.textContent = label;
      div.append(v, l);
      return div;
    }));
  }

  function table(id, rows, cells) {
    const body = document.querySelector(`#${id} tbody`);
    body.replaceChildren(...rows.map((row) => {
      const tr = document.createElement("tr");
      cells(row).forEach((cell) => {
        const td = document.createElement("td");
        if (cell instanceof Node) td.append(cell); else td.textContent = cell;
        tr.append(td);
      });
      return tr;
    }));
  }

  function draw(d) {
    kpis(d.kpis);
    chart("chart-volume", {
      tooltip: { trigger: "axis" }, grid: { left: 40, right: 20, top: 10, bottom: 30 },
      xAxis: { type: "category", data: d.volume.labels }, yAxis: { type: "value" },
      series: [{ type: "line", smooth: true, areaStyle: {}, data: d.volume.values, name: gettext("受理量") }],
    });
    chart("chart-rates", {
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 40, right: 20, top: 30, bottom: 30 },
      xAxis: { type: "category", data: d.rates.labels }, yAxis: { type: "value", min: 0, max: 100 },
      series: [
        { type: "line", name: gettext("响应率"), data: d.rates.response, connectNulls: true },
        { type: "line", name: gettext("解决率"), data: d.rates.resolution, connectNulls: true },
        { type: "line", name: gettext("满意率"), data: d.rates.satisfaction, connectNulls: true },
      ],
    });
    chart("chart-channels", pie(d.channels));
    chart("chart-categories", bars(d.categories, true));
    chart("chart-territories", bars(d.territories, false));
    chart("chart-ranking", bars(d.ranking, true));
    chart("chart-overdue", bars(d.overdue_by_unit, true));
    chart("chart-handling", bars(d.handling_time, true));
    chart("chart-satisfaction", pie(d.callbacks.satisfaction));
    chart("chart-solved", pie(d.callbacks.solved));
    chart("chart-completion", {
      tooltip: {}, grid: { left: 40, right: 20, top: 20, bottom: 30 },
      xAxis: { type: "category", data: [gettext("办结率"), gettext("按期办结率")] }, yAxis: { type: "value", min: 0, max: 100 },
      series: [{ type: "bar", data: [d.completion.completion, d.completion.on_time], label: { show: true, position: "top" } }],
    });
    table("table-spikes", d.spikes, (s) => [s.day, s.community, s.category, s.count, s.baseline]);
    const hotspotUrl = root.dataset.hotspotUrl;
    table("table-hotspots", d.hotspots, (h) => {
      const a = document.createElement("a");
      a.href = hotspotUrl.replace(/0\/0\/$/, `${h.community_id}/${h.category_id}/`) + window.location.search;
      a.textContent = h.community;
      return [a, h.category, h.count, h.previous, h.change === null ? "—" : `${(h.change * 100).toFixed(0)}%`];
    });
    const s = d.supervision;
    table("table-supervision", [...s.units, { ...s.total, name: gettext("合计") }], (u) => [
      u.name, u.phone, u.written, u.onsite, u.interview, u.acknowledged, u.unacknowledged, u.escalated, u.head_signed,
    ]);
    const meaning = document.getElementById("territory-meaning");
    if (meaning) meaning.textContent = d.territory_meaning;
    root.dataset.ready = "true";
  }

  fetch(`${root.dataset.url}${window.location.search}`, { credentials: "same-origin" })
    .then((r) => r.json())
    .then(draw);
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
})();
