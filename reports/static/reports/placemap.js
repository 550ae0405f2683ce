/* The offline map (属地): ECharts drawing our own GeoJSON (the /geo endpoints), no
   tiles, nothing fetched from outside. Shared by the dashboard and the wall screen.
   window.HotlineMap(el, { geoUrl, dark, onClick(place, feature) }) returns
   { show(payload), setMetric(key), metric(), chart }. A payload is the map data
   endpoint's answer: { level, parent, places: [{ id, volume, open, … }] }. */
(function () {
  "use strict";
  const gettext = window.gettext || ((s) => s);
  const METRICS = {
    volume: { label: gettext("受理量"), colours: ["#e0f3f8", "#4575b4"] },
    open: { label: gettext("未办结"), colours: ["#fff7bc", "#d95f0e"] },
    overdue: { label: gettext("超期"), colours: ["#fee0d2", "#a50f15"] },
    satisfaction: { label: gettext("满意率（%）"), colours: ["#a50f15", "#fee08b", "#1a9850"] },
    spikes: { label: gettext("突增预警"), colours: ["#f2f0f7", "#54278f"] },
  };
  const LEVEL_NAMES = {
    district: gettext("区县"), street: gettext("街道乡镇"), community: gettext("社区村"), grid: gettext("网格"),
  };
  const geoCache = {};

  function HotlineMap(el, opts) {
    const chart = window.echarts.init(el, opts.dark ? "dark" : null, { renderer: "canvas" });
    let metric = opts.metric || "volume";
    let payload = null;
    let key = null;

    async function geo(level, parent) {
      const mapKey = `${level}:${parent || ""}`;
      if (!geoCache[mapKey]) {
        const url = `${opts.geoUrl}?level=${level}${parent ? `&parent=${parent}` : ""}`;
        const collection = await (await fetch(url, { credentials: "same-origin" })).json();
        const names = {};
        // ECharts names a region by a property: our ids, as strings, so that two
        // places of the same name (网格 "第一网格" in two communities) stay apart.
        collection.features.forEach((f) => {
          f.properties.key = String(f.properties.id);
          names[f.properties.key] = f.properties;
        });
        window.echarts.registerMap(mapKey, collection);
        geoCache[mapKey] = { names, count: collection.features.length };
      }
      return mapKey;
    }

    function draw() {
      if (!payload || !key) return;
      const { names, count } = geoCache[key];
      const byId = Object.fromEntries(payload.places.map((p) => [String(p.id), p]));
      const data = Object.keys(names).map((id) => ({ name: id, value: byId[id] ? byId[id][metric] : null }));
      const values = data.map((d) => d.value).filter((v) => v !== null && v !== undefined);
      const spec = METRICS[metric];
      const fg = opts.dark ? "#e6edf3" : "#333";
      el.dataset.metric = metric;
      el.dataset.regions = String(count);
      chart.setOption({
        backgroundColor: "transparent",
        title: count ? undefined : { text: gettext("尚无该层级的边界数据"), left: "center", top: "middle", textStyle: { color: fg } },
        tooltip: {
          trigger: "item",
          formatter: (p) => {
            const place = byId[p.name] || {};
            const name = names[p.name] ? names[p.name].name : p.name;
            const pct = (v) => (v === null || v === undefined ? "—" : `${v}%`);
            return [
              `<b>${name}</b>`,
              `${METRICS.volume.label}: ${place.volume ?? 0}`,
              `${METRICS.open.label}: ${place.open ?? 0}`,
              `${METRICS.overdue.label}: ${place.overdue ?? 0}`,
              `${gettext("满意率")}: ${pct(place.satisfaction)}`,
              `${METRICS.spikes.label}: ${place.spikes ?? 0}`,
            ].join("<br>");
          },
        },
        visualMap: {
          min: values.length ? Math.min(...values, metric === "satisfaction" ? 100 : 0) : 0,
          max: values.length ? Math.max(...values, 1) : 1,
          calculable: true, left: 16, bottom: 16, text: [spec.label, ""],
          inRange: { color: spec.colours }, textStyle: { color: fg, fontSize: opts.dark ? 20 : 12 },
        },
        series: [{
          type: "map", map: key, nameProperty: "key", roam: false, selectedMode: false,
          label: {
            show: true, color: fg, fontSize: opts.dark ? 26 : 11, fontWeight: opts.dark ? "bold" : "normal",
            // an outline keeps a name readable on a pale area as on a dark one
            textBorderColor: opts.dark ? "#0b1220" : "#fff", textBorderWidth: opts.dark ? 4 : 2,
            formatter: (p) => (names[p.name] ? names[p.name].name : ""),
          },
          itemStyle: { borderColor: opts.dark ? "#0b1220" : "#fff", areaColor: opts.dark ? "#1f2a3c" : "#eee" },
          emphasis: { label: { color: fg }, itemStyle: { areaColor: "#fdae61" } },
          data,
        }],
      }, true);
    }

    chart.on("click", (p) => {
      if (!opts.onClick || !payload || !key) return;
      const place = payload.places.find((x) => String(x.id) === p.name) || { id: Number(p.name) };
      opts.onClick(place, geoCache[key].names[p.name], payload);
    });
    window.addEventListener("resize", () => chart.resize());

    return {
      chart,
      async show(data) {
        payload = data;
        key = await geo(data.level, data.parent);
        draw();
        el.dataset.level = data.level;
        el.dataset.ready = "true";
      },
      setMetric(m) { metric = m; draw(); },
      metric: () => metric,
    };
  }
  HotlineMap.METRICS = METRICS;
  HotlineMap.LEVEL_NAMES = LEVEL_NAMES;
  window.HotlineMap = HotlineMap;
})();
