"""Excel workbooks: reports with native charts, and the ticket ledger (工单台账)."""

from io import BytesIO

from openpyxl import Workbook
from openpyxl.chart import BarChart, PieChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from cases.clock import local_stamp

from .accuracy import ACCURACY_AXES
from .accuracy import COLUMNS as ACCURACY_COLUMNS
from .axes import BASE_COUNTS
from .metrics import RATE_LABELS
from .supervision import SUPERVISION_LABELS

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="417690")
TITLE_FONT = Font(bold=True, size=14)
PERCENT_RATES = [name for name in RATE_LABELS if name != "avg_handling_hours"]
UNIT_RATES = ["response", "resolution", "satisfaction", "composite", "on_time", "sign_on_time", "avg_handling_hours"]


def _header(ws, row, headers):
    for col, text in enumerate(headers, start=1):
        cell = ws.cell(row=row, column=col, value=text)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _widths(ws, widths):
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width


def _rate_cell(cell, name, value):
    cell.value = value
    if value is not None:
        cell.number_format = "0.0%" if name in PERCENT_RATES else "0.0"


def report_workbook(report) -> bytes:
    data = report.data
    wb = Workbook()

    ws = wb.active
    ws.title = "概况"
    ws["A1"] = report.title
    ws["A1"].font = TITLE_FONT
    ws["A2"] = f"统计期间：{data['period']['start']} 至 {data['period']['end']}"
    ws["A3"] = f"生成时间：{local_stamp(report.issued_at)}"
    _header(ws, 5, ["指标", "数值"])
    for i, (name, label) in enumerate(RATE_LABELS.items(), start=6):
        ws.cell(row=i, column=1, value=label)
        _rate_cell(ws.cell(row=i, column=2), name, data["totals"]["rates"][name])
    counters = data["totals"]["counters"]
    start = 6 + len(RATE_LABELS) + 1
    _header(ws, start, ["计数", "件数"])
    labels = {
        "received": "受理量",
        "dispatched": "派单量",
        "due": "应办结量",
        "due_closed": "其中已办结",
        "due_closed_on_time": "其中按期办结",
        "closed": "办结量",
        "cb_valid": "有效回访",
        "cb_solved": "回访已解决",
        "cb_satisfied": "回访满意",
        "cb_basically": "回访基本满意",
        "cb_unsatisfied": "回访不满意",
        "returned": "退单工单",
        "extended": "延期工单",
        "cb_reopened": "重办工单",
    }
    for i, (name, label) in enumerate(labels.items(), start=start + 1):
        ws.cell(row=i, column=1, value=label)
        ws.cell(row=i, column=2, value=counters[name])
    _widths(ws, [24, 14])

    ws = wb.create_sheet("单位排名")
    headers = ["排名", "单位", "类型", "派单量", *[RATE_LABELS[n] for n in UNIT_RATES]]
    _header(ws, 1, headers)
    units = data["units"]
    for r, unit in enumerate(units, start=2):
        ws.cell(row=r, column=1, value=unit.get("rank"))
        ws.cell(row=r, column=2, value=unit["name"])
        ws.cell(row=r, column=3, value=unit["kind"])
        ws.cell(row=r, column=4, value=unit["counters"]["dispatched"])
        for c, name in enumerate(UNIT_RATES, start=5):
            _rate_cell(ws.cell(row=r, column=c), name, unit["rates"][name])
    _widths(ws, [6, 24, 12, 8, *[11] * len(UNIT_RATES)])
    ranked = [u for u in units if u.get("rank")]
    if ranked:
        metric = data["ranking_metric"]
        column = 5 + UNIT_RATES.index(metric)
        chart = BarChart()
        chart.type = "bar"
        chart.title = f"单位排名（{RATE_LABELS[metric]}）"
        chart.y_axis.number_format = "0%"
        shown = min(len(ranked), 15)
        chart.add_data(Reference(ws, min_col=column, min_row=1, max_row=1 + shown), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=2, min_row=2, max_row=1 + shown))
        chart.height, chart.width = 10, 18
        ws.add_chart(chart, f"{get_column_letter(len(headers) + 2)}2")

    ws = wb.create_sheet("红黑榜")
    _header(ws, 1, ["红榜排名", "单位", "得分", "", "黑榜排名", "单位", "得分"])
    for r, row in enumerate(data["red_list"], start=2):
        ws.cell(row=r, column=1, value=row["rank"])
        ws.cell(row=r, column=2, value=row["name"])
        _rate_cell(ws.cell(row=r, column=3), "composite", row["value"])
    for r, row in enumerate(data["black_list"], start=2):
        ws.cell(row=r, column=5, value=row["rank"])
        ws.cell(row=r, column=6, value=row["name"])
        _rate_cell(ws.cell(row=r, column=7), "composite", row["value"])
    _widths(ws, [9, 24, 10, 3, 9, 24, 10])

    ws = wb.create_sheet("超期工单")
    _header(ws, 1, ["工单编号", "诉求分类", "主办单位", "办结时限", "超期（小时）"])
    for r, row in enumerate(data["overdue"], start=2):
        for c, key in enumerate(["number", "category", "unit", "due", "overdue_hours"], start=1):
            ws.cell(row=r, column=c, value=row[key])
    _widths(ws, [16, 30, 22, 18, 12])

    ws = wb.create_sheet("分类与渠道")
    _header(ws, 1, ["诉求分类", "件数"])
    for r, row in enumerate(data["categories"], start=2):
        ws.cell(row=r, column=1, value=row["name"])
        ws.cell(row=r, column=2, value=row["count"])
    if data["categories"]:
        chart = BarChart()
        chart.title = "诉求分类前十"
        chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=1 + len(data["categories"])), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=1 + len(data["categories"])))
        chart.height, chart.width = 9, 16
        ws.add_chart(chart, "E2")
    offset = len(data["categories"]) + 4
    _header(ws, offset, ["渠道", "件数"])
    for r, row in enumerate(data["channels"], start=offset + 1):
        ws.cell(row=r, column=1, value=row["name"])
        ws.cell(row=r, column=2, value=row["count"])
    if data["channels"]:
        pie = PieChart()
        pie.title = "渠道分布"
        pie.add_data(
            Reference(ws, min_col=2, min_row=offset, max_row=offset + len(data["channels"])), titles_from_data=True
        )
        pie.set_categories(Reference(ws, min_col=1, min_row=offset + 1, max_row=offset + len(data["channels"])))
        ws.add_chart(pie, f"E{offset}")
    _widths(ws, [34, 10])

    ws = wb.create_sheet("热点")
    _header(ws, 1, ["社区", "诉求分类", "本期", "上期", "变化"])
    for r, row in enumerate(data["hotspots"], start=2):
        ws.cell(row=r, column=1, value=row["community"])
        ws.cell(row=r, column=2, value=row["category"])
        ws.cell(row=r, column=3, value=row["count"])
        ws.cell(row=r, column=4, value=row["previous"])
        _rate_cell(ws.cell(row=r, column=5), "change", row["change"])
    _widths(ws, [18, 34, 8, 8, 10])
    _category_sheet(wb, data.get("category_rates"))
    _supervision_sheet(wb, data.get("supervision"))
    _report_accuracy_sheet(wb, data.get("dispatch_accuracy"))
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _category_sheet(wb, rows):
    """分类统计: every rate per category, each row with its subcategories (reports
    issued before this sheet existed have no rows and get no sheet)."""
    if rows is None:
        return
    ws = wb.create_sheet("分类统计")
    _header(ws, 1, ["诉求分类", "层级", *map(str, BASE_COUNTS.values()), *RATE_LABELS.values()])
    for r, row in enumerate(rows, start=2):
        ws.cell(row=r, column=1, value=("　" * (row["level"] - 1)) + row["name"])
        ws.cell(row=r, column=2, value=row["level"])
        for c, name in enumerate(BASE_COUNTS, start=3):
            ws.cell(row=r, column=c, value=row["counters"][name])
        for c, name in enumerate(RATE_LABELS, start=3 + len(BASE_COUNTS)):
            _rate_cell(ws.cell(row=r, column=c), name, row["rates"][name])
    _widths(ws, [40, 6, *[9] * len(BASE_COUNTS), *[11] * len(RATE_LABELS)])


def _supervision_sheet(wb, supervision):
    """督办统计: urges by kind, acknowledged or not, interviews, escalations and
    head sign-offs per urged unit, with the total."""
    if supervision is None:
        return
    ws = wb.create_sheet("督办统计")
    _header(ws, 1, ["单位", *map(str, SUPERVISION_LABELS.values())])
    rows = [*supervision["units"], {"name": "合计", **supervision["totals"]}]
    for r, row in enumerate(rows, start=2):
        ws.cell(row=r, column=1, value=row["name"])
        for c, name in enumerate(SUPERVISION_LABELS, start=2):
            ws.cell(row=r, column=c, value=row[name])
    _widths(ws, [24, *[11] * len(SUPERVISION_LABELS)])


def _axis_cell(cell, column, value):
    if column in RATE_LABELS:
        _rate_cell(cell, column, value)
    else:
        cell.value = value


def _accuracy_sheet(wb, title: str, label: str, rows: list[dict], total: dict | None, start: int = 1):
    """派单准确率 (``reports.accuracy``): one row per dispatcher, unit or category,
    as plain dicts of ``COLUMNS`` (the stored reports keep them so)."""
    ws = wb.create_sheet(title)
    _header(ws, start, [str(label), *map(str, ACCURACY_COLUMNS.values())])
    for r, row in enumerate([*rows, *([total] if total else [])], start=start + 1):
        ws.cell(row=r, column=1, value=row["name"])
        for c, name in enumerate(ACCURACY_COLUMNS, start=2):
            cell = ws.cell(row=r, column=c, value=row[name])
            if name == "accuracy" and row[name] is not None:
                cell.number_format = "0.0%"
    _widths(ws, [30, *[12] * len(ACCURACY_COLUMNS)])


def accuracy_workbook(*, title: str, table) -> bytes:
    """The 派单准确率 page as shown (an ``AccuracyTable``)."""
    wb = Workbook()
    wb.remove(wb.active)
    rows = [r.as_dict() for r in table.rows]
    _accuracy_sheet(wb, "派单准确率", table.label, rows, table.total.as_dict(), start=3)
    wb.active["A1"] = title
    wb.active["A1"].font = TITLE_FONT
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _report_accuracy_sheet(wb, accuracy):
    """派单准确率 of a stored report, per dispatching unit (reports issued before it
    existed have none and get no sheet)."""
    if accuracy is None:
        return
    _accuracy_sheet(wb, "派单准确率", str(ACCURACY_AXES["centre"][0]), accuracy["centre"], accuracy["total"])


def axis_workbook(*, title: str, columns: dict, rows: list, total=None, accuracy=None) -> bytes:
    """The 统计分析 table as shown: the same columns, rows and order (``rows`` are
    ``reports.axes.AxisRow``; ``total`` an optional last row of the same shape);
    with ``accuracy`` (an ``AccuracyTable``) a 派单准确率 sheet as the page shows it."""
    wb = Workbook()
    ws = wb.active
    ws.title = "统计分析"
    ws["A1"] = title
    ws["A1"].font = TITLE_FONT
    _header(ws, 3, [str(label) for label in columns.values()])
    for r, row in enumerate([*rows, *([total] if total is not None else [])], start=4):
        for c, column in enumerate(columns, start=1):
            _axis_cell(ws.cell(row=r, column=c), column, row.value(column))
    _widths(ws, [34, *[11] * (len(columns) - 1)])
    if accuracy is not None:
        rows = [r.as_dict() for r in accuracy.rows]
        _accuracy_sheet(wb, "派单准确率", accuracy.label, rows, accuracy.total.as_dict())
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


THEME_MONTH_COLUMNS = [
    ("title", "题目", 30),
    ("lead", "牵头单位", 20),
    ("state", "状态", 10),
    ("received", "受理量", 10),
    ("response", "响应率", 10),
    ("resolution", "解决率", 10),
    ("satisfaction", "满意率", 10),
    ("tasks", "任务数", 10),
    ("tasks_done", "已完成任务", 12),
    ("tasks_overdue", "逾期任务", 10),
]


def theme_month_workbook(*, title: str, rows: list[dict]) -> bytes:
    """每月一题月度报告: one row per theme (``reports.themes.themes_month``)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "每月一题"
    ws["A1"] = title
    ws["A1"].font = TITLE_FONT
    _header(ws, 3, [label for _key, label, _width in THEME_MONTH_COLUMNS])
    for r, row in enumerate(rows, start=4):
        for c, (key, _label, _width) in enumerate(THEME_MONTH_COLUMNS, start=1):
            cell = ws.cell(row=r, column=c)
            if key in ("response", "resolution", "satisfaction"):
                _rate_cell(cell, key, row[key])
            else:
                cell.value = row[key]
    _widths(ws, [width for _key, _label, width in THEME_MONTH_COLUMNS])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
