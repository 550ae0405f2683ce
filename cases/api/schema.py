from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse

ERROR = OpenApiResponse(OpenApiTypes.OBJECT, description='`{"detail": …}` or `{field: [messages]}`')
ERROR_CODES = {
    "400": "Bad input: what is wrong, per field",
    "401": "No or invalid credentials",
    "403": "Not allowed for this key or role",
    "404": "Not found, or outside your scope",
    "406": "Not acceptable: the API answers JSON",
    "415": "Unsupported or malformed request body",
    "429": "Throttled",
}


class HotlineAutoSchema(AutoSchema):
    """Every operation documents the errors it can answer with."""

    def _get_response_bodies(self, direction="response"):
        bodies = super()._get_response_bodies(direction)
        for code, description in ERROR_CODES.items():
            if code not in bodies:
                bodies[code] = self._get_response_for_code(
                    OpenApiResponse(OpenApiTypes.OBJECT, description=description), code, direction=direction
                )
        return bodies
