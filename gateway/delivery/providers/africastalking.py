"""Africa's Talking: sending through the official SDK, and reading its callbacks."""

from __future__ import annotations

from typing import Any

import requests
from africastalking.Service import AfricasTalkingException
from africastalking.SMS import SMSService

from gateway.delivery.providers.base import SendResult
from gateway.errors import PermanentSendError, TransientSendError

# Per-recipient status codes of the messaging API.
ACCEPTED_CODES = {100, 101, 102}  # Processed, Sent, Queued
# 500 InternalServerError, 501 GatewayError, 502 RejectedByGateway: worth another try later.
TRANSIENT_CODES = {500, 501, 502}
# 401 RiskHold, 402 InvalidSenderId, 403 InvalidPhoneNumber, 404 UnsupportedNumberType,
# 405 InsufficientBalance, 406 UserInBlacklist, 407 CouldNotRoute, 409 DoNotDisturbRejection:
# permanent for this message; the status text is kept as the reason.

# Delivery statuses after which nothing more will happen to a message.
FINAL_DELIVERY_STATUSES = {"Success", "Failed", "Rejected", "Expired"}


class AfricasTalkingProvider:
    """Send SMS with africastalking.SMS.SMSService."""

    name = "africastalking"

    def __init__(
        self, username: str, api_key: str, sender_id: str | None = None, api_url: str | None = None
    ) -> None:
        self.service = SMSService(username, api_key)
        if api_url:
            # The SDK has no setting for its address; its base URL is this attribute.
            self.service._baseUrl = api_url.rstrip("/") + "/version1"
        self.sender_id = sender_id

    def send(self, to: str, message: str) -> SendResult:
        """Send one message to one recipient and read that recipient's status."""
        try:
            answer = self.service.send(message, [to], sender_id=self.sender_id)
        except requests.RequestException as exc:
            raise TransientSendError(f"network error: {type(exc).__name__}") from exc
        except AfricasTalkingException as exc:
            # Raised on any non-2xx answer; the SDK keeps only the body.
            raise TransientSendError(f"provider error: {str(exc)[:200]}") from exc
        return _read_recipient(answer)


def _read_recipient(answer: Any) -> SendResult:
    if not isinstance(answer, dict):
        raise TransientSendError("provider answered without JSON")
    recipients = (answer.get("SMSMessageData") or {}).get("Recipients") or []
    if not recipients:
        message = (answer.get("SMSMessageData") or {}).get("Message", "no recipient in answer")
        raise PermanentSendError(f"provider accepted no recipient: {str(message)[:200]}")
    first = recipients[0]
    try:
        code = int(first.get("statusCode"))
    except (TypeError, ValueError) as exc:
        raise TransientSendError("provider answered without a status code") from exc
    status = str(first.get("status") or "")
    message_id = first.get("messageId") or None
    if message_id == "None":
        message_id = None
    result = SendResult(
        accepted=code in ACCEPTED_CODES,
        message_id=message_id,
        status_code=code,
        status=status,
        cost=str(first.get("cost")) if first.get("cost") is not None else None,
    )
    if code in TRANSIENT_CODES:
        raise TransientSendError(f"provider status {code} {status}")
    return result
