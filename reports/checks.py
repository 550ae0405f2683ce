from django.conf import settings
from django.core.checks import Warning, register


@register()
def chart_library_installed(app_configs, **kwargs):
    path = settings.NODE_MODULES / "echarts" / "dist" / "echarts.min.js"
    if path.exists():
        return []
    return [
        Warning(
            "The chart library is not installed: the dashboard cannot draw charts.",
            hint="Run `make install` (it runs `npm ci`).",
            id="reports.W001",
        )
    ]
