/* The dashboard: one JSON request, then every chart with ECharts (served from our
   own static files). No inline scripts, no CDN. */
(function () {
  "use strict";
  const root = document.querySelector(".dashboard");
  if (!root || !window.echarts) return;
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, args, named) =>
    named ? fmt.replace(/%\((\w+)\)s/g, (_, key) => args[key]) : fmt.replace(/%s/g, () => args.shift()));
  const charts = {};
  const widthOf = (id) => document.getElementById(id)?.clientWidth || 400;
  const BAR_HEIGHT = 26; // px per bar: every bar keeps its label, the box grows instead

  // SVG, so that every label is an element the browser (and its tests) can measure.
  function chart(id, option, rows) {
    const el = document.getElementById(id);
    if (!el) return null;
    if (rows !== undefined) el.style.height = `${Math.max(200, rows * BAR_HEIGHT + 50)}px`;
    let c = charts[id];
    if (c) c.resize();
    else c = charts[id] = window.echarts.init(el, null, { renderer: "svg" });
    c.setOption(option, true);
    return c;
  }
  // Horizontal bars, biggest on top, every category labelled (interval 0), the grid
  // sized to its labels.
  const bars = (items, extra = {}) => ({
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    grid: { left: 8, right: 48, top: 8, bottom: 24, containLabel: true },
    xAxis: { type: "value", ...extra.xAxis },
    yAxis: {
      type: "category",
      inverse: true,
      data: items.map((i) => i.label ?? i.name),
      axisLabel: { interval: 0 },
      axisTick: { interval: 0 },
    },
    series: [{ type: "bar", data: items.map((i) => i.value), label: { show: true, position: "right" }, barMaxWidth: 18 }],
  });
  // A donut without labels on the ring: its legend names each slice with its count
  // and share, beside the ring, so no label can run into another or into the legend.
  const pie = (items, width) => {
    const shown = items.filter((i) => i.value > 0);
    const sum = shown.reduce((n, i) => n + i.value, 0);
    const share = Object.fromEntries(shown.map((i) => [i.name, sum ? ((i.value * 100) / sum).toFixed(1) : "0"]));
    const count = Object.fromEntries(shown.map((i) => [i.name, i.value]));
    return {
      tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
      legend: {
        type: "scroll", orient: "vertical", left: "48%", top: "middle", itemGap: 8,
        formatter: (name) => `${name}\u00a0\u00a0${count[name]}\u00a0(${share[name]}%)`,
        // a long name wraps inside the box rather than running out of it
        textStyle: { width: Math.max(80, width * 0.5 - 40), overflow: "break" },
      },
      series: [{
        type: "pie", radius: ["36%", "66%"], center: ["24%", "50%"], data: shown,
        label: { show: false }, labelLine: { show: false },
      }],
    };
  };
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

  // A daily (or weekly) trend whose days that are not over yet — today — are drawn
  // dashed on a shaded band with "今日截至HH:MM", not as a fall: the server says
  // which points are complete (the clock's rule).
  function trend(id, labels, complete, asOf, lines, opts) {
    const last = complete.lastIndexOf(true);
    const partial = complete.some((c) => !c);
    const series = [];
    lines.forEach((line, n) => {
      const base = { type: "line", name: line.name, connectNulls: true, itemStyle: { color: line.color } };
      series.push({
        ...base, data: line.data.map((v, i) => (complete[i] ? v : null)),
        lineStyle: { color: line.color }, areaStyle: line.area ? { opacity: 0.25 } : undefined,
      });
      if (!partial) return;
      series.push({
        ...base, data: line.data.map((v, i) => (!complete[i] || i === last ? v : null)), symbol: "emptyCircle",
        lineStyle: { color: line.color, type: "dashed", opacity: 0.6 }, areaStyle: line.area ? { opacity: 0.08 } : undefined,
        markArea: n > 0 ? undefined : {
          silent: true, itemStyle: { color: "rgba(128, 128, 128, 0.14)" },
          data: [[{ xAxis: labels[Math.max(last, 0)] }, { xAxis: labels[labels.length - 1] }]],
        },
      });
    });
    chart(id, {
      tooltip: {
        trigger: "axis",
        formatter: (params) => {
          const seen = new Set();
          const rows = params.filter((p) => p.value !== null && p.value !== undefined && !seen.has(p.seriesName) && seen.add(p.seriesName));
          const i = params.length ? params[0].dataIndex : 0;
          const head = complete[i] ? labels[i] : `${labels[i]}（${asOf}）`;
          return [head, ...rows.map((p) => `${p.marker}${p.seriesName}: ${p.value}`)].join("<br>");
        },
      },
      legend: opts.legend ? { top: 0, left: "center", data: lines.map((l) => l.name) } : undefined,
      // the note sits above the plot, right-aligned, where no line runs into it
      graphic: partial ? [{
        type: "text", right: 20, top: 4, silent: true,
        style: { text: interpolate(gettext("虚线：%s，尚未结束"), [asOf]), fill: "#666", fontSize: 12 },
      }] : [],
      grid: { left: 40, right: 20, top: 30, bottom: 30 },
      xAxis: { type: "category", data: labels },
      yAxis: opts.yAxis,
      series,
    });
  }

  // 综合得分, one kind of unit at a time. The axis starts just below the lowest
  // score, with a break mark from 0 and a note saying so: on a 0–100 axis scores
  // between 90 and 100 all look the same.
  function rankings(panels) {
    const switcher = document.getElementById("ranking-kinds");
    const note = document.getElementById("ranking-note");
    function show(panel) {
      switcher.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.kind === panel.kind)));
      const values = panel.units.map((u) => u.value);
      const low = Math.min(...values);
      const span = Math.max(Math.max(...values) - low, 4);
      const from = Math.max(0, Math.floor((low - span / 2) / 5) * 5);
      const items = panel.units.map((u) => ({ ...u, label: `${u.rank}. ${u.name}` }));
      const xAxis = from > 0
        ? { min: 0, max: 100, breaks: [{ start: 0, end: from, gap: "6%" }], breakArea: { show: true } }
        : { min: 0, max: 100 };
      chart("chart-ranking", bars(items, { xAxis }), items.length);
      note.textContent = from > 0 ? interpolate(gettext("注意：横轴从 %s 分起，不从 0 开始（折断处）。"), [from]) : "";
      switcher.dataset.shown = panel.kind;
    }
    switcher.replaceChildren(...panels.map((panel) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "button";
      b.dataset.kind = panel.kind;
      b.textContent = interpolate(gettext("%(kind)s（%(count)s）"), { kind: panel.label, count: panel.units.length }, true);
      b.addEventListener("click", () => show(panel));
      return b;
    }));
    if (panels.length) show(panels[0]);
    else note.textContent = gettext("本期没有达到排名件数的单位。");
  }

  function draw(d) {
    kpis(d.kpis);
    trend("chart-volume", d.volume.labels, d.volume.complete, d.as_of, [
      { name: gettext("受理量"), data: d.volume.values, color: "#5470c6", area: true },
    ], { yAxis: { type: "value", minInterval: 1 } });
    trend("chart-rates", d.rates.labels, d.rates.complete, d.as_of, [
      { name: gettext("响应率"), data: d.rates.response, color: "#5470c6" },
      { name: gettext("解决率"), data: d.rates.resolution, color: "#91cc75" },
      { name: gettext("满意率"), data: d.rates.satisfaction, color: "#ee6666" },
    ], { yAxis: { type: "value", min: 0, max: 100 }, legend: true });
    chart("chart-channels", pie(d.channels, widthOf("chart-channels")));
    chart("chart-categories", bars(d.categories), d.categories.length);
    chart("chart-territories", bars(d.territories), d.territories.length);
    rankings(d.rankings);
    chart("chart-overdue", bars(d.overdue_by_unit), d.overdue_by_unit.length);
    chart("chart-handling", bars(d.handling_time), d.handling_time.length);
    chart("chart-satisfaction", pie(d.callbacks.satisfaction, widthOf("chart-satisfaction")));
    chart("chart-solved", pie(d.callbacks.solved, widthOf("chart-solved")));
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
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
})();
