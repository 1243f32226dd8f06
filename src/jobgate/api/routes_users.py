"""User routes (seed 000/001): create (admin), read (admin or self), list (admin), keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from jobgate.api.body import parse_model
from jobgate.api.deps import (
    PROBLEM_RESPONSES,
    Runner,
    body_schema,
    credentials,
    json_body,
)
from jobgate.api.schemas import (
    CreateUser,
    KeyCreated,
    KeyOut,
    UpdateUser,
    UserCreated,
    UserOut,
    UserPage,
    iso,
)
from jobgate.bootstrap import Services
from jobgate.errors import NotFound
from jobgate.services.users import Principal, UserService

Key = Annotated[str | None, Depends(credentials)]
Body = Annotated[bytes, Depends(json_body)]


def _self_or_admin(users: UserService, key: str | None, user_id: str) -> Principal:
    who = users.authenticate(key)
    if not who.is_admin and who.owner != user_id:
        raise NotFound(f"no user {user_id!r}")
    return who


def build_router(services: Services, runner: Runner) -> APIRouter:
    """The users' routes, and their keys' (:func:`_add_key_routes`)."""
    router = APIRouter(tags=["users"], responses=PROBLEM_RESPONSES)
    users = services.users

    admin = users.authenticate_admin

    def self_or_admin(key: str | None, user_id: str) -> Principal:
        return _self_or_admin(users, key, user_id)

    @router.post(
        "/users",
        status_code=201,
        response_model=UserCreated,
        openapi_extra=body_schema(CreateUser),
        summary="Create a user (admin)",
    )
    @runner.writes
    def create_user(response: Response, raw: Body, key: Key) -> UserCreated:
        """Creates the user and returns their first API key, once."""
        admin(key)
        body = parse_model(CreateUser, raw)
        user, api_key = users.create_user(body.name, str(body.email), body.user_id)
        response.headers["Location"] = f"/users/{user.user_id}"
        key_id = api_key.split("_")[1]
        return UserCreated(**UserOut.of(user).model_dump(), api_key=api_key, key_id=key_id)

    @router.get("/users", response_model=UserPage, summary="List users (admin)")
    @runner.reads
    def list_users(
        key: Key,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> UserPage:
        admin(key)
        page = users.list_users(cursor, limit)
        return UserPage(users=[UserOut.of(u) for u in page.items], next_cursor=page.cursor)

    @router.get("/users/{user_id}", response_model=UserOut, summary="A user (admin or self)")
    @runner.reads
    def get_user(user_id: str, key: Key) -> UserOut:
        self_or_admin(key, user_id)
        return UserOut.of(users.get_user(user_id))

    @router.patch(
        "/users/{user_id}",
        response_model=UserOut,
        openapi_extra=body_schema(UpdateUser),
        summary="Change a user's name or email (admin)",
    )
    @runner.writes
    def update_user(user_id: str, raw: Body, key: Key) -> UserOut:
        """Changes the name and/or email; an email another user has is a 409."""
        admin(key)
        body = parse_model(UpdateUser, raw)
        email = None if body.email is None else str(body.email)
        return UserOut.of(users.update_user(user_id, body.name, email))

    @router.delete("/users/{user_id}", status_code=204, summary="Delete a user (admin)")
    @runner.writes
    def delete_user(user_id: str, key: Key) -> Response:
        """Removes the user and revokes all their keys at once; their jobs stay, readable by
        the admin."""
        admin(key)
        users.delete_user(user_id)
        return Response(status_code=204)

    _add_key_routes(router, users, runner)
    return router


def _add_key_routes(router: APIRouter, users: UserService, runner: Runner) -> None:
    def self_or_admin(key: str | None, user_id: str) -> Principal:
        return _self_or_admin(users, key, user_id)

    @router.post(
        "/users/{user_id}/keys", status_code=201, response_model=KeyCreated, summary="Issue a key"
    )
    @runner.writes
    def issue_key(user_id: str, key: Key) -> KeyCreated:
        """Issue another API key (for rotation: issue, switch, then revoke the old one)."""
        self_or_admin(key, user_id)
        api_key = users.issue_key(user_id)
        return KeyCreated(key_id=api_key.split("_")[1], api_key=api_key)

    @router.get("/users/{user_id}/keys", response_model=list[KeyOut], summary="List keys")
    @runner.reads
    def list_keys(user_id: str, key: Key) -> list[KeyOut]:
        self_or_admin(key, user_id)
        return [
            KeyOut(
                key_id=k.key_id, created_at=iso(k.created_at) or "", revoked_at=iso(k.revoked_at)
            )
            for k in users.list_keys(user_id)
        ]

    @router.delete("/users/{user_id}/keys/{key_id}", status_code=204, summary="Revoke a key")
    @runner.writes
    def revoke_key(user_id: str, key_id: str, key: Key) -> Response:
        self_or_admin(key, user_id)
        users.revoke_key(user_id, key_id)
        return Response(status_code=204)
