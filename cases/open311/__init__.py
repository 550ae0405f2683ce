"""Open311 GeoReport v2 at /open311/v2/ (https://wiki.open311.org/GeoReport_v2),
with the page/page_size and servicerequestupdates extensions."""
