"""NHN accounts per tenant on the local RabbitMQ: one AMQP 1.0 connection per account, and
every message and queue over the right one.

Two tenants of the demo world get RabbitMQ users of their own, made for the test and deleted
after it with ``rabbitmqctl`` (without it the test fails; it does not skip). Each user may do
only what its NHN account could: read its tenant's ``_async`` and ``_error`` queues and publish
to its own stand-in for KPR's queue, nothing else. So the broker itself refuses a message sent,
or a queue read, over the wrong tenant's connection.

What differs from the other tests in this folder, and why:

- The exchange is ``amq.topic``, not ``amq.direct``: it routes these queue names (no dots, no
  wildcards) just as ``amq.direct`` does, and RabbitMQ checks topic permissions (user and
  routing key) on it, which is what tells which account a message was published over.
- The broker's view of connections comes from ``list_channels``. RabbitMQ 3.10 runs each
  session of an AMQP 1.0 connection as an internal (direct) connection with one channel, named
  after the client's socket (``127.0.0.1:50130 -> 127.0.0.1:5672 (1)``); that socket is the
  AMQP 1.0 connection, and a queue's consumer is traced to it through its channel.
  ``list_connections`` shows only AMQP 0-9-1 clients, ``list_amqp10_connections`` lists
  nothing before 3.10.9 (rabbitmq-server issue 4238), and the connection tracking behind
  ``close_all_user_connections`` and ``delete_user`` knows one session per socket, so those
  close at most that session, not the connection (seen on 3.10.8). The test cuts a connection
  itself instead, with ``ss -K`` on its own client socket, as a network failure would.
- Each ``rabbitmqctl`` run starts an Erlang VM (~0.7 s): the runs that do not depend on each
  other run at once.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest
import yaml
from aio_pika.abc import AbstractChannel
from proton import Message

from kpr_gateway.cli.demo.world import MUNICIPALITIES, DemoWorld, create_world
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.nhn import APPREC_SUBJECT, NhnDelivery, NhnHandler, NhnSendError, NhnTransport
from kpr_gateway.nhn.amqp import AmqpNhnTransport
from kpr_gateway.nhn.routing import RoutedTransport
from kpr_gateway.runtime.nhn import amqp_transport
from kpr_gateway.tenancy import Tenant, TenantsFile, load_tenants
from tests.integration.nhn import peer
from tests.integration.nhn.broker import BROKER
from tests.integration.nhn.support import message, wait_until
from tests.support.rabbit import delete_queues

EXCHANGE = "amq.topic"
EX_NOUSER = 67  # rabbitmqctl's exit status for a user that does not exist
CTL_TIMEOUT = 60.0
_SAFE_NAME = re.compile(r"[a-z0-9_-]+")  # nothing a permission pattern would read as syntax
_CHANNEL_NAME = re.compile(r"(?P<connection>.+) \(\d+\)")  # "<client socket> (<number>)"


# --- rabbitmqctl -----------------------------------------------------------------------------


def _rabbitmqctl(*args: str, stdin: str | None = None, missing_user_ok: bool = False) -> str:
    """``rabbitmqctl -q <args>``; anything but success fails the test, saying why."""
    command = shutil.which("rabbitmqctl")
    if command is None:
        pytest.fail(
            "rabbitmqctl is not on PATH: this test makes RabbitMQ users with it (run it on the "
            "local broker's machine, as root or as the rabbitmq user)",
            pytrace=False,
        )
    try:
        done = subprocess.run(
            [command, "-q", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=CTL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"rabbitmqctl {args[0]} could not run: {exc}", pytrace=False)
    if done.returncode == EX_NOUSER and missing_user_ok:
        return ""
    if done.returncode != 0:
        reason = (done.stderr.strip() or done.stdout.strip())[-2000:]
        pytest.fail(
            f"rabbitmqctl {args[0]} failed (exit {done.returncode}); the test needs the local "
            f"broker's CLI (as root or the rabbitmq user, for the Erlang cookie): {reason}",
            pytrace=False,
        )
    return done.stdout


async def rabbitmqctl(*args: str, stdin: str | None = None, missing_user_ok: bool = False) -> str:
    return await asyncio.to_thread(
        _rabbitmqctl, *args, stdin=stdin, missing_user_ok=missing_user_ok
    )


async def all_of(*work: Awaitable[object]) -> list[object]:
    """Run ``work`` at once; only once every one has finished, raise the first failure (so no
    ``add_user`` is still running when the clean-up deletes the users)."""
    results = await asyncio.gather(*work, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _rows(output: str, columns: int) -> list[tuple[str, ...]]:
    rows = [tuple(line.split("\t")) for line in output.splitlines() if line.strip()]
    return [row for row in rows if len(row) == columns]


@dataclass(frozen=True)
class BrokerView:
    """What the broker lists: channels, consumers, AMQP 0-9-1 connections."""

    channels: dict[str, tuple[str, str]]  # channel pid -> (user, its AMQP 1.0 connection)
    consumers: dict[str, list[str]]  # queue -> channel pids of its consumers
    amqp091_users: frozenset[str]  # users with an AMQP 0-9-1 connection

    def connections_of(self, user: str) -> set[str]:
        """The client sockets ``user``'s sessions run on: its AMQP 1.0 connections."""
        return {connection for owner, connection in self.channels.values() if owner == user}

    def readers_of(self, queue: str) -> list[tuple[str, str]]:
        """(user, AMQP 1.0 connection) of every consumer of ``queue``."""
        return [self.channels.get(pid, ("?", "?")) for pid in self.consumers.get(queue, [])]


async def channels() -> dict[str, tuple[str, str]]:
    """Every channel on the node: pid -> (user, the connection named in the channel's name)."""
    listed = await rabbitmqctl("list_channels", "--no-table-headers", "pid", "user", "name")
    found: dict[str, tuple[str, str]] = {}
    for pid, user, name in _rows(listed, 3):
        named = _CHANNEL_NAME.fullmatch(name)
        found[pid] = (user, named["connection"] if named else name)
    return found


async def broker_view() -> BrokerView:
    listed, consumers, connections = await asyncio.gather(
        channels(),
        rabbitmqctl("list_consumers", "-p", "/", "--no-table-headers", "queue_name", "channel_pid"),
        rabbitmqctl("list_connections", "--no-table-headers", "user", "protocol"),
    )
    by_queue: dict[str, list[str]] = {}
    for queue, channel_pid in _rows(consumers, 2):
        by_queue.setdefault(queue, []).append(channel_pid)
    return BrokerView(listed, by_queue, frozenset(user for user, _ in _rows(connections, 2)))


# --- the two tenants, their users and queues ---------------------------------------------------


@dataclass(frozen=True)
class Account:
    """A tenant with a RabbitMQ user of its own, standing in for its NHN account."""

    tenant: Tenant
    username: str
    password: str = field(repr=False)
    outbox: str  # the only queue the user may publish to: its stand-in for KPR's queue

    @property
    def her_id(self) -> str:
        """The tenant's sender HER-id (``fromHerId``), by which dispatch picks the connection."""
        return self.tenant.communication_party.her_id

    @property
    def inbox(self) -> tuple[str, str]:
        """The queues receipts reads for the tenant: the only ones the user may read."""
        return (self.tenant.async_queue, self.tenant.error_queue)


@dataclass(frozen=True)
class Setup:
    accounts: list[Account]
    tenants: TenantsFile
    settings: DispatchSettings


def grants(account: Account) -> list[tuple[str, ...]]:
    """What the user may do: read its tenant's queues; publish to its outbox, only there."""
    queues = (*account.inbox, account.outbox)
    assert all(_SAFE_NAME.fullmatch(queue) for queue in queues), queues
    reads = f"^({'|'.join(account.inbox)})$"
    return [
        ("set_permissions", "-p", "/", account.username, "^$", r"^amq\.topic$", reads),
        (
            "set_topic_permissions",
            "-p",
            "/",
            account.username,
            EXCHANGE,
            f"^{account.outbox}$",
            "^$",
        ),
    ]


@pytest.fixture
async def setup(tmp_path: Path, channel: AbstractChannel) -> AsyncIterator[Setup]:
    """Two tenants, each with its own RabbitMQ user, and their queues; the users and queues are
    deleted afterwards, whatever the test did."""
    run = uuid.uuid4().hex[:10]
    prefix = f"kprgw-nhn-test-{run}-"
    usernames = {m.tenant_id: f"{prefix}{m.tenant_id}" for m in MUNICIPALITIES}
    passwords = {m.tenant_id: secrets.token_urlsafe(24) for m in MUNICIPALITIES}
    declared: list[str] = []
    try:
        world, *_ = await all_of(
            asyncio.to_thread(create_world, tmp_path / "world", nhn_queue_prefix=prefix),
            *(  # the password on stdin, not in a command line
                rabbitmqctl("add_user", usernames[tenant_id], stdin=f"{passwords[tenant_id]}\n")
                for tenant_id in usernames
            ),
        )
        assert isinstance(world, DemoWorld)
        document = yaml.safe_load(world.tenants_file.read_text(encoding="utf-8"))
        for entry in document["tenants"]:
            secret = tmp_path / f"{entry['id']}-nhn-password"
            secret.write_text(f"{passwords[entry['id']]}\n", encoding="utf-8")
            entry["nhn"].update(username=usernames[entry["id"]], password_file=str(secret))
        world.tenants_file.write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
        tenants = load_tenants(world.tenants_file)
        accounts = [
            Account(tenant, usernames[tenant.id], passwords[tenant.id], f"{prefix}kpr-{tenant.id}")
            for tenant in tenants.tenants
        ]
        assert sorted(usernames) == sorted(account.tenant.id for account in accounts)
        await all_of(*(rabbitmqctl(*grant) for account in accounts for grant in grants(account)))
        for account in accounts:
            for queue in (*account.inbox, account.outbox):
                declared.append(queue)
                made = await channel.declare_queue(queue, durable=True)
                await made.bind(EXCHANGE, routing_key=queue)
        settings = DispatchSettings.model_validate(
            {
                "tenants_file": world.tenants_file,
                "nhn_url": BROKER.url,
                "nhn_allow_insecure": True,
                "nhn_exchange": EXCHANGE,
                "send_timeout_seconds": 10.0,
                "drain_seconds": 5.0,
            }
        )
        yield Setup(accounts, tenants, settings)
    finally:
        try:
            await delete_queues(declared)
        finally:
            if shutil.which("rabbitmqctl") is not None:  # without it, nobody was made
                users = (
                    rabbitmqctl("delete_user", u, missing_user_ok=True) for u in usernames.values()
                )
                await all_of(*users)


# --- the test --------------------------------------------------------------------------------


def dispatch_transport(setup: Setup) -> NhnTransport:
    """What dispatch builds (its ``amqp_transport`` options); a lost connection stays down for
    5 s here, longer than the test needs it down."""
    settings = setup.settings
    return amqp_transport(
        "dispatch",
        settings,
        setup.tenants,
        exchange=settings.nhn_exchange,
        send_timeout=settings.send_timeout_seconds,
        verify_queues=settings.nhn_verify_queues,
        connect_timeout=5.0,
        reconnect_initial=5.0,
        reconnect_max=5.0,
    )


async def put_apprec(account: Account, body: bytes) -> None:
    """What KPR would do (here as the guest user): put a message on the tenant's async queue."""
    apprec = Message(
        body=body,
        inferred=True,
        id=str(uuid.uuid4()),
        address=account.tenant.async_queue,
        subject=APPREC_SUBJECT,
        durable=True,
        properties={"fromHerId": "122612", "toHerId": account.her_id},
    )
    await asyncio.to_thread(peer.send, f"/amq/queue/{account.tenant.async_queue}", [apprec])


async def take(queue: str) -> tuple[str, bytes]:
    """Take the one message on ``queue`` as a separate peer: (its fromHerId, its body)."""
    [arrived] = await asyncio.to_thread(peer.receive, queue)
    properties = cast("dict[str, object]", arrived.message.properties)
    body = arrived.message.body
    assert isinstance(body, bytes | memoryview), type(body)
    return str(properties["fromHerId"]), bytes(body)


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"not within {timeout:g}s: {what}")


def _cut(connection: str) -> None:
    """Abort this process's client socket of ``connection`` (``<client> -> <server>``, as the
    broker names it), the way a network failure would."""
    client, server = (side.rsplit(":", 1) for side in connection.split(" -> "))
    command = shutil.which("ss")
    if command is None:
        pytest.fail(
            "ss (iproute2) is not on PATH: the test cuts a connection with ss -K", pytrace=False
        )
    where = ["src", client[0], "sport", "=", f":{client[1]}"]
    where += ["dst", server[0], "dport", "=", f":{server[1]}"]
    done = subprocess.run(
        [command, "-K", "-t", *where], capture_output=True, text=True, timeout=10, check=False
    )
    if done.returncode != 0:
        reason = done.stderr.strip()
        pytest.fail(
            f"ss -K failed (exit {done.returncode}; needs CAP_NET_ADMIN): {reason}", pytrace=False
        )


async def cut(connection: str) -> None:
    await asyncio.to_thread(_cut, connection)


async def test_each_tenant_account_has_its_own_connection(setup: Setup) -> None:
    bergen, trondheim = sorted(setup.accounts, key=lambda account: account.tenant.id)
    users = {bergen.username, trondheim.username}
    received: list[tuple[str, bytes]] = []

    def reader(queue: str) -> NhnHandler:
        async def handle(delivery: NhnDelivery) -> None:
            received.append((queue, delivery.message.body))
            await delivery.accept()

        return handle

    transport = dispatch_transport(setup)
    assert isinstance(transport, RoutedTransport)
    assert transport.connection_names == [
        f"account {bergen.username}",
        f"account {trondheim.username}",
    ]
    for account in (bergen, trondheim):
        for queue in account.inbox:
            transport.subscribe(queue, reader(queue))
    await transport.start()
    try:
        # Each tenant's message goes out over its own account: each user may publish only to
        # its own outbox, so a message over the wrong connection would be refused.
        for account in (bergen, trondheim):
            body = f"from {account.tenant.id}".encode()
            await transport.send(message(account.outbox, body=body, from_her_id=account.her_id))
        for account in (bergen, trondheim):
            assert await take(account.outbox) == (
                account.her_id,
                f"from {account.tenant.id}".encode(),
            )

        # Each tenant's async queue is read over its own account (the only one that may).
        for account in (bergen, trondheim):
            await put_apprec(account, f"apprec for {account.tenant.id}".encode())
        await wait_until(lambda: len(received) == 2)
        assert sorted(received) == [
            (account.tenant.async_queue, f"apprec for {account.tenant.id}".encode())
            for account in (bergen, trondheim)
        ]

        # The broker's side: each tenant user has one AMQP 1.0 connection (none over 0-9-1),
        # and each of its tenant's queues has one consumer, on that connection.
        view = await broker_view()
        assert not users & view.amqp091_users
        [bergens] = view.connections_of(bergen.username)
        [trondheims] = view.connections_of(trondheim.username)
        assert bergens != trondheims
        for account, connection in ((bergen, bergens), (trondheim, trondheims)):
            for queue in account.inbox:
                assert view.readers_of(queue) == [(account.username, connection)], queue

        # Control: the permissions do bite. Trondheim's message over Bergen's account is
        # refused by the broker, so the sends above went over the right connections.
        intruder = AmqpNhnTransport(
            BROKER.url,
            username=bergen.username,
            password=bergen.password,
            exchange=EXCHANGE,
            allow_insecure=True,
            verify_queues=True,
            connect_timeout=5.0,
            send_timeout=5.0,
        )
        await intruder.start()
        try:
            with pytest.raises(NhnSendError, match="unauthorized-access"):
                await intruder.send(message(trondheim.outbox, from_her_id=trondheim.her_id))
        finally:
            await intruder.stop()

        # One connection lost does not stop the other tenant: Trondheim's is cut (the
        # transport is not ready any more, and stays down: the first reconnect waits 5 s).
        # Bergen's connection stays up, the very same one, and goes on sending and receiving.
        async def not_ready() -> bool:
            return not await transport.ping()

        await cut(trondheims)
        await until(not_ready, "the transport notices that Trondheim's connection is gone")
        await transport.send(message(bergen.outbox, body=b"still here", from_her_id=bergen.her_id))
        assert await take(bergen.outbox) == (bergen.her_id, b"still here")
        await put_apprec(bergen, b"later")
        await wait_until(lambda: len(received) == 3)
        assert received[-1] == (bergen.tenant.async_queue, b"later")
        assert not await transport.ping()  # Trondheim's was down all along

        async def only_bergens_left() -> bool:
            left = {conn for user, conn in (await channels()).values() if user in users}
            return left == {bergens}

        await until(only_bergens_left, "the broker has Bergen's connection only, the same one")
    finally:
        await transport.stop()

    # Stopped: no session of either user is left on the broker.
    async def all_gone() -> bool:
        return not any(user in users for user, _ in (await channels()).values())

    await until(all_gone, "no session of the tenant users left after stop")
