"""Notification routes (seed 003): subscribe by webhook, email or SMS, list, unsubscribe, rotate a
webhook's secret, see and replay deliveries. Each owner sees only their own subscriptions (the
admin sees all); another owner's is a 404. Bad input is a 422 and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from jobgate.api.body import parse_model
from jobgate.api.deps import PROBLEM_RESPONSES, Runner, body_schema, credentials, json_body
from jobgate.api.schemas import (
    DeliveryList,
    DeliveryOut,
    SecretRotated,
    SubscribeEmail,
    SubscribeSms,
    SubscribeWebhook,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionOut,
    Unsubscribe,
    iso,
)
from jobgate.bootstrap import Services
from jobgate.domain.notices import EVERY_OWNER, Channel, Subscription
from jobgate.errors import NotAvailable
from jobgate.services.notify import SubscriptionService

Key = Annotated[str | None, Depends(credentials)]
Body = Annotated[bytes, Depends(json_body)]
_BODIES: dict[Channel, type[SubscribeWebhook | SubscribeEmail | SubscribeSms]] = {
    Channel.WEBHOOK: SubscribeWebhook,
    Channel.EMAIL: SubscribeEmail,
    Channel.SMS: SubscribeSms,
}


def _target(body: SubscribeWebhook | SubscribeEmail | SubscribeSms) -> str:
    if isinstance(body, SubscribeWebhook):
        return body.url
    if isinstance(body, SubscribeEmail):
        return body.email
    return body.phone_number


def build_router(services: Services, runner: Runner) -> APIRouter:
    router = APIRouter(tags=["notifications"], responses=PROBLEM_RESPONSES)
    users, subscriptions = services.users, services.subscriptions()

    def owner_of(key: str | None) -> str | None:
        who = users.authenticate(key)
        if not subscriptions.available:
            raise NotAvailable(
                f"notifications are not available on the {services.backend.name} backend yet"
            )
        return who.scope

    _subscribe_routes(router, runner, subscriptions, owner_of)

    @router.get(
        "/notifications/subscriptions",
        response_model=SubscriptionList,
        summary="Your subscriptions",
    )
    @runner.reads
    def list_subscriptions(key: Key) -> SubscriptionList:
        owner = owner_of(key)
        return SubscriptionList(
            subscriptions=[SubscriptionOut.of(s) for s in subscriptions.all(owner)]
        )

    @router.delete("/notifications/subscriptions/{sub_id}", status_code=204, summary="Unsubscribe")
    @runner.writes
    def delete_subscription(sub_id: str, key: Key) -> Response:
        subscriptions.delete(owner_of(key), sub_id)
        return Response(status_code=204)

    @router.delete(
        "/notifications/unsubscribe",
        status_code=204,
        openapi_extra=body_schema(Unsubscribe),
        summary="Unsubscribe (seed 003 shape)",
    )
    @runner.writes
    def unsubscribe(raw: Body, key: Key) -> Response:
        owner = owner_of(key)
        subscriptions.delete(owner, parse_model(Unsubscribe, raw).id)
        return Response(status_code=204)

    @router.post(
        "/notifications/subscriptions/{sub_id}/rotate-secret",
        response_model=SecretRotated,
        summary="Rotate a webhook's signing secret",
    )
    @runner.writes
    def rotate_secret(sub_id: str, key: Key) -> SecretRotated:
        """A new secret; the previous one keeps signing beside it for the overlap window
        (``JOBGATE_WEBHOOK_SECRET_OVERLAP_SECONDS``), so receivers can switch without a gap."""
        rotated = subscriptions.rotate_secret(owner_of(key), sub_id)
        previous = [s.expires_at for s in rotated.secrets[1:] if s.expires_at is not None]
        return SecretRotated(
            id=rotated.sub_id,
            secret=rotated.secrets[0].value,
            previous_valid_until=iso(max(previous)) if previous else None,
        )

    @router.get(
        "/notifications/subscriptions/{sub_id}/deliveries",
        response_model=DeliveryList,
        summary="A subscription's deliveries",
    )
    @runner.reads
    def deliveries(
        sub_id: str, key: Key, limit: Annotated[int, Query(ge=1, le=200)] = 50
    ) -> DeliveryList:
        found = subscriptions.deliveries(owner_of(key), sub_id, limit)
        return DeliveryList(deliveries=[DeliveryOut.of(d) for d in found])

    @router.post(
        "/notifications/subscriptions/{sub_id}/deliveries/{delivery_id}/replay",
        status_code=202,
        response_model=DeliveryOut,
        summary="Send a delivery again",
    )
    @runner.writes
    def replay(sub_id: str, delivery_id: str, key: Key) -> DeliveryOut:
        return DeliveryOut.of(subscriptions.replay(owner_of(key), sub_id, delivery_id))

    return router


def _subscribe_routes(
    router: APIRouter,
    runner: Runner,
    subscriptions: SubscriptionService,
    owner_of: Callable[[str | None], str | None],
) -> None:
    """``POST /notifications/subscribe/{webhook,email,sms}``."""

    def created(response: Response, sub: Subscription) -> SubscriptionCreated:
        response.headers["Location"] = f"/notifications/subscriptions/{sub.sub_id}"
        secret = sub.secrets[0].value if sub.secrets else None
        return SubscriptionCreated(**SubscriptionOut.of(sub).model_dump(), secret=secret)

    def subscriber(
        channel: Channel, model: type[SubscribeWebhook | SubscribeEmail | SubscribeSms]
    ) -> Callable[[Response, bytes, str | None], SubscriptionCreated]:
        def subscribe(response: Response, raw: Body, key: Key) -> SubscriptionCreated:
            owner = owner_of(key)
            body = parse_model(model, raw)
            sub = subscriptions.subscribe(
                owner or EVERY_OWNER,  # the admin's subscriptions hear every owner's jobs
                channel,
                _target(body),
                body.event_types,
                body.job_types,
                body.include_payload,
            )
            return created(response, sub)

        return subscribe

    for channel, model in _BODIES.items():
        router.add_api_route(
            f"/notifications/subscribe/{channel.value}",
            runner.writes(subscriber(channel, model)),
            methods=["POST"],
            status_code=201,
            response_model=SubscriptionCreated,
            openapi_extra=body_schema(model),
            summary=f"Subscribe by {channel.value}",
            description=f"Hear about your jobs by {channel.value}; filters by event and job type."
            + (" The whsec_ secret is shown once." if channel is Channel.WEBHOOK else ""),
        )
