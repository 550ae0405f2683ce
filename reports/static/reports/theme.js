/* A 每月一题 theme's page: weekly volume (bars) and 三率 (lines), before and since
   the theme started, with ECharts from our own static files. No inline scripts. */
(function () {
  "use strict";
  const el = document.getElementById("theme-chart");
  const source = document.getElementById("theme-chart-data");
  if (!el || !source || !window.echarts) return;
  const gettext = window.gettext || ((s) => s);
  const data = JSON.parse(source.textContent);
  const chart = window.echarts.init(el, null, { renderer: "svg" });
  const firstSince = data.since.indexOf(true);
  const line = (name, values) => ({ name, type: "line", yAxisIndex: 1, connectNulls: false, data: values });
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 8, right: 8, top: 40, bottom: 24, containLabel: true },
    xAxis: { type: "category", data: data.labels },
    yAxis: [
      { type: "value", name: gettext("受理量"), minInterval: 1 },
      { type: "value", name: "%", min: 0, max: 100 },
    ],
    series: [
      {
        name: gettext("受理量"),
        type: "bar",
        data: data.received,
        markLine: firstSince < 0 ? undefined : {
          symbol: "none",
          label: { formatter: gettext("立题") },
          data: [{ xAxis: data.labels[firstSince] }],
        },
      },
      line(gettext("响应率"), data.response),
      line(gettext("解决率"), data.resolution),
      line(gettext("满意率"), data.satisfaction),
    ],
  });
  window.addEventListener("resize", () => chart.resize());
})();
