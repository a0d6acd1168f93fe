"""The whole number that a 422 suggests for a float horizon is a horizon
that the server accepts: within ``RNN_FORECAST_MAX_HORIZON`` and the
version's own horizon."""

from __future__ import annotations

import pytest

from tests.conftest import TINY, LiveServer
from tests.service.conftest import MAX_HORIZON
from tests.service.test_error_messages import FORECAST, field_errors
from tests.service.test_spec_errors import send_json_text

MESSAGE = (
    "Input should be an integer without a decimal point or exponent, not "
    "{echoed}; send a whole number such as {example}"
)
NON_FINITE = (
    "Input should be an integer, but the value sent is NaN, which is not a "
    "number that JSON allows; send a whole number such as {example}"
)
# the number of steps that every version of the test registry forecasts
VERSION_HORIZON = TINY["horizon"]


def suggested_horizon(server: LiveServer, text: str) -> str:
    """Send the forecast body ``text`` and return the message of its one
    field error, which must be on ``horizon``."""
    response = send_json_text(server, "POST", FORECAST, text)

    assert response.status_code == 422, response.text
    errors = field_errors(response)
    assert list(errors) == ["horizon"]
    return errors["horizon"]["message"]


@pytest.mark.parametrize(
    ("text", "echoed"),
    [
        ('{"horizon": 100.0}', "100.0"),
        ('{"horizon": 5.5}', "5.5"),
        ('{"horizon": 1e2, "version": 1}', "100.0"),
        ('{"horizon": 7.0, "version": "latest"}', "7.0"),
    ],
)
def test_float_horizon_suggests_server_limit(
    strict_server: LiveServer, text: str, echoed: str
) -> None:
    message = suggested_horizon(strict_server, text)

    assert message == MESSAGE.format(echoed=echoed, example=MAX_HORIZON)


def test_nan_horizon_suggests_server_limit(strict_server: LiveServer) -> None:
    message = suggested_horizon(strict_server, '{"horizon": NaN}')

    assert message == NON_FINITE.format(example=MAX_HORIZON)


@pytest.mark.parametrize(
    ("text", "echoed"),
    [('{"horizon": 100.0}', "100.0"), ('{"horizon": 6.5, "version": 1}', "6.5")],
)
def test_float_horizon_suggests_version_horizon(
    live_server: LiveServer, text: str, echoed: str
) -> None:
    message = suggested_horizon(live_server, text)

    assert message == MESSAGE.format(echoed=echoed, example=VERSION_HORIZON)


def test_float_horizon_within_limits_keeps_whole_part(
    strict_server: LiveServer,
) -> None:
    message = suggested_horizon(strict_server, '{"horizon": 3.5}')

    assert message == MESSAGE.format(echoed="3.5", example=3)


def test_unknown_version_suggests_server_limit(strict_server: LiveServer) -> None:
    text = '{"horizon": 100.0, "version": "no-such-alias"}'

    message = suggested_horizon(strict_server, text)

    assert message == MESSAGE.format(echoed="100.0", example=MAX_HORIZON)


@pytest.mark.parametrize(
    "text",
    ['{"horizon": 100.0}', '{"horizon": 4.5}', '{"horizon": NaN}', '{"horizon": -2.5}'],
)
@pytest.mark.parametrize("server_name", ["strict_server", "live_server"])
def test_suggested_horizon_is_accepted(
    request: pytest.FixtureRequest, server_name: str, text: str
) -> None:
    """Resend the body with the suggested horizon, as a client would."""
    server: LiveServer = request.getfixturevalue(server_name)
    message = suggested_horizon(server, text)
    example = int(message.rsplit(" ", 1)[-1])

    response = server.client.post(FORECAST, json={"horizon": example})

    assert response.status_code == 200, response.text
    assert response.json()["horizon"] == example
