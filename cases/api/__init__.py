"""The REST API under /api/v1/ (DESIGN §7): other channels create and follow
tickets, staff act on them, an IVR posts callback results, sensors post alerts."""
