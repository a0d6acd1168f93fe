"""Query parameters that take one value.

Starlette keeps every value of a repeated parameter, and FastAPI reads the
last one for a parameter that is no list, so ``?limit=2&limit=3`` would
silently mean ``limit=3``. The list routes reject a repeated single-valued
parameter instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from models.errors import InvalidInputError
from models.quoted_ids import quoted

# the single-valued query parameters of every paged list
PAGE_PARAMETERS = ("limit", "cursor")


def check_single_values(request: Request, names: tuple[str, ...]) -> None:
    """Raise ``InvalidInputError`` on ``query.NAME`` for the first of
    ``names`` that the query of ``request`` gives more than once."""
    for name in names:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            listed = ", ".join(quoted(value) for value in values[:3])
            raise InvalidInputError(
                f"query parameter {name!r} is given {len(values)} times "
                f"({listed}{', ...' if len(values) > 3 else ''}); give it once",
                field=f"query.{name}",
            )


def single_values(*names: str) -> Callable[[Request], Awaitable[None]]:
    """Return a route dependency that runs ``check_single_values``."""

    async def check(request: Request) -> None:
        check_single_values(request, names)

    return check


# the dependency of the paged list routes
SinglePageValues = Depends(single_values(*PAGE_PARAMETERS))
