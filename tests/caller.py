"""A caller dialling the USSD webhook exactly as Africa's Talking posts each hop."""

from __future__ import annotations

import re
import uuid

from flask.testing import FlaskClient

from flows.gsm import is_gsm7, ussd_length

OPTION = re.compile(r"^\s*(\d+)\s*[.):-]?\s+(.+?)\s*$")


class Caller:
    """One USSD session: dial, then press keys; keeps every answer it saw."""

    def __init__(
        self,
        client: FlaskClient,
        phone: str = "+243970001234",
        session_id: str | None = None,
        token: str | None = None,
    ) -> None:
        self.client = client
        self.phone = phone
        self.session_id = session_id or "ATUid_" + uuid.uuid4().hex
        self.inputs: list[str] = []
        self.screens: list[str] = []
        self.token = token

    @property
    def text(self) -> str:
        return "*".join(self.inputs)

    def post(self, text: str) -> str:
        url = "/africastalking/ussd" + (f"?token={self.token}" if self.token else "")
        response = self.client.post(
            url,
            data={
                "sessionId": self.session_id,
                "serviceCode": "*384*1234#",
                "phoneNumber": self.phone,
                "networkCode": "63001",
                "text": text,
            },
        )
        assert response.status_code == 200, response.data
        assert response.mimetype == "text/plain"
        body = response.get_data(as_text=True)
        assert body.startswith(("CON ", "END ")), body
        limit = 182 if is_gsm7(body) else 80
        assert ussd_length(body) <= limit, (ussd_length(body), body)
        self.screens.append(body)
        return body

    def dial(self) -> str:
        return self.post("")

    def hang_up(self, status: str = "Success") -> None:
        """Post the network's session-end notification of this session."""
        url = "/africastalking/ussd-events" + (f"?token={self.token}" if self.token else "")
        response = self.client.post(url, data={
            "sessionId": self.session_id, "serviceCode": "*384*1234#", "networkCode": "63001",
            "phoneNumber": self.phone, "status": status, "hopsCount": str(len(self.screens)),
        })
        assert response.status_code == 200, response.data

    def press(self, key: str) -> str:
        self.inputs.append(key)
        return self.post(self.text)

    @property
    def screen(self) -> str:
        return self.screens[-1]

    def options(self) -> dict[str, str]:
        """The numbered options of the current screen, label by number."""
        found = {}
        for line in self.screen[4:].splitlines():
            match = OPTION.match(line)
            if match:
                found[match.group(1)] = match.group(2)
        return found

    def choose(self, label: str) -> str:
        """Press the number of the option whose label contains `label` (case-insensitive)."""
        for number, text in self.options().items():
            if label.lower() in text.lower():
                return self.press(number)
        raise AssertionError(f"no option {label!r} on screen:\n{self.screen}")
