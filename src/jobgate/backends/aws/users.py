"""Users and their API keys on DynamoDB. Translation only: policy lives in services.

Table: partition key ``user_id``; API keys live beside users as ``apikey#<sha256>``, listed per
user through GSI ``key-owner-index`` (``key_owner``, ``created_at``); users are listed in id
order through GSI ``kind-index`` (``kind`` = "user", ``user_id``). An email is held by an item
``email#<lowercased email>`` written in the same transaction as the user it belongs to, so two
users never share one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jobgate.backends.aws.errors import ConditionFailed, translated
from jobgate.backends.aws.items import from_item, start_key, to_item
from jobgate.backends.fields import encode_cursor
from jobgate.domain.models import ApiKey, Page, User
from jobgate.errors import Conflict, NotFound

if TYPE_CHECKING:  # the published stubs (dev extra); nothing at run time
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class DynamoUserStore:
    """:class:`~jobgate.ports.UserStore` on DynamoDB (see the module docstring for keys)."""

    def __init__(self, client: DynamoDBClient, users_table: str) -> None:
        self._db = client
        self._table = users_table

    def _email_put(self, user: User) -> TransactWriteItemTypeDef:
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item({"user_id": _email_key(user.email), "email_owner": user.user_id}),
                "ConditionExpression": "attribute_not_exists(user_id)",
            }
        }

    def _exists(self, user_id: str) -> bool:
        return self.get_user(user_id) is not None

    def create_user(self, user: User) -> None:
        fields = {
            "user_id": user.user_id,
            "name": user.name,
            "email": user.email,
            "created_at": user.created_at,
            "kind": "user",
        }
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(fields),
                "ConditionExpression": "attribute_not_exists(user_id)",
            }
        }
        try:
            with translated("create user"):
                self._db.transact_write_items(TransactItems=[put, self._email_put(user)])
        except ConditionFailed as exc:
            if self._exists(user.user_id):
                raise Conflict(f"user {user.user_id!r} already exists") from exc
            raise Conflict(f"another user has the email {user.email!r}") from exc

    def update_user(self, user: User, previous: User) -> None:
        update: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self._table,
                "Key": {"user_id": {"S": user.user_id}},
                "UpdateExpression": "SET #n = :n, email = :e",
                "ConditionExpression": "attribute_exists(user_id)",
                "ExpressionAttributeNames": {"#n": "name"},
                "ExpressionAttributeValues": {":n": {"S": user.name}, ":e": {"S": user.email}},
            }
        }
        items = [update]
        if _email_key(user.email) != _email_key(previous.email):
            old = {"user_id": {"S": _email_key(previous.email)}}
            items += [self._email_put(user), {"Delete": {"TableName": self._table, "Key": old}}]
        try:
            with translated("update user"):
                self._db.transact_write_items(TransactItems=items)
        except ConditionFailed as exc:
            if not self._exists(user.user_id):
                raise NotFound(f"no user {user.user_id!r}") from exc
            raise Conflict(f"another user has the email {user.email!r}") from exc

    def delete_user(self, user_id: str, at: float) -> bool:
        with translated("delete user"):
            old = self._db.delete_item(
                TableName=self._table,
                Key={"user_id": {"S": user_id}},
                ConditionExpression="kind = :user",
                ExpressionAttributeValues={":user": {"S": "user"}},
                ReturnValues="ALL_OLD",
            ).get("Attributes") if self._exists(user_id) else None  # fmt: skip
        if old is None:
            return False
        with translated("free email"):
            self._db.delete_item(
                TableName=self._table, Key={"user_id": {"S": _email_key(old["email"]["S"])}}
            )
        for key in self.list_keys(user_id):
            if key.revoked_at is None:
                self.revoke_key(user_id, key.key_id, at)
        return True

    def get_user(self, user_id: str) -> User | None:
        with translated("get user"):
            item = self._db.get_item(TableName=self._table, Key={"user_id": {"S": user_id}}).get(
                "Item"
            )
        if item is None or from_item(item).get("kind") != "user":
            return None
        return _user(from_item(item))

    def list_users(self, cursor: str | None = None, limit: int = 50) -> Page[User]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "kind-index",
            "KeyConditionExpression": "kind = :k",
            "ExpressionAttributeValues": {":k": {"S": "user"}},
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = start_key(cursor)
        with translated("list users"):
            answer = self._db.query(**request)
        users = [_user(from_item(i)) for i in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        return Page(users, encode_cursor(json.dumps(last)) if last else None)

    def add_key(self, key: ApiKey) -> None:
        fields = {
            "user_id": f"apikey#{key.key_hash}",
            "key_id": key.key_id,
            "key_owner": key.user_id,
            "key_hash": key.key_hash,
            "created_at": key.created_at,
            "revoked_at": key.revoked_at,
        }
        with translated("add key"):
            self._db.put_item(TableName=self._table, Item=to_item(fields))

    def revoke_key(self, user_id: str, key_id: str, at: float) -> bool:
        for key in self.list_keys(user_id):
            if key.key_id == key_id and key.revoked_at is None:
                try:
                    with translated("revoke key"):
                        self._db.update_item(
                            TableName=self._table,
                            Key={"user_id": {"S": f"apikey#{key.key_hash}"}},
                            UpdateExpression="SET revoked_at = :at",
                            ConditionExpression="attribute_not_exists(revoked_at)",
                            ExpressionAttributeValues={":at": {"N": repr(at)}},
                        )
                except ConditionFailed:
                    return False
                return True
        return False

    def find_key(self, key_hash: str) -> ApiKey | None:
        with translated("find key"):
            item = self._db.get_item(
                TableName=self._table, Key={"user_id": {"S": f"apikey#{key_hash}"}}
            ).get("Item")
        return None if item is None else _key(from_item(item))

    def list_keys(self, user_id: str) -> list[ApiKey]:
        with translated("list keys"):
            answer = self._db.query(
                TableName=self._table,
                IndexName="key-owner-index",
                KeyConditionExpression="key_owner = :u",
                ExpressionAttributeValues={":u": {"S": user_id}},
            )
        return [_key(from_item(i)) for i in answer.get("Items", [])]


def _email_key(email: str) -> str:
    return f"email#{email.lower()}"


def _user(f: Mapping[str, Any]) -> User:
    return User(f["user_id"], f["name"], f["email"], float(f["created_at"]))


def _key(f: Mapping[str, Any]) -> ApiKey:
    revoked = f.get("revoked_at")
    return ApiKey(
        f["key_id"], f["key_owner"], f["key_hash"], float(f["created_at"]),
        None if revoked is None else float(revoked),
    )  # fmt: skip
