"""The `flask --app webapp …` commands (SPEC section 8). Bad input: a precise error, exit 1, no change."""

from __future__ import annotations

import functools
import logging
import shlex
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from webapp import queue, transactions
from webapp.extensions import db
from webapp.models import Campaign, Office, User
from webapp.plugin_api import InboundMessage, printable
from webapp.plugin_api.registry import GROUPS, installed
from webapp.services import (
    api_keys,
    audit,
    campaigns,
    directory,
    inbound,
    knowledge_base,
    offices,
    scheduling,
    schema,
    webhooks,
)
from webapp.services.admin import lock_users
from webapp.services.dbutil import unstorable
from webapp.services.phones import PhoneError, format_phone, normalise_provider_phone, parse_any_phone

log = logging.getLogger(__name__)

# How long a worker started while the database is out of reach waits before trying again.
DATABASE_RETRY_SECONDS = 5.0

offices_cli = AppGroup("offices", help="Manage offices.")
users_cli = AppGroup("users", help="Manage users.")
numbers_cli = AppGroup("numbers", help="Manage reusable numbers.")
campaigns_cli = AppGroup("campaigns", help="Import and launch campaign records.")
sms_cli = AppGroup("sms", help="Feed messages through Parley's pipelines.")
api_keys_cli = AppGroup("api-keys", help="Keys of the CRM API (one office each).")
webhooks_cli = AppGroup("webhooks", help="Activity webhooks: an office's events posted to a CRM.")
kb_cli = AppGroup("kb", help="The knowledge-base bot's entries and its \"I don't know\" behaviour.")


def _fail(message: str) -> None:
    db.session.rollback()
    raise click.ClickException(message)


def _sentence(message: str) -> str:
    """A message as the other commands end theirs: with a full stop."""
    return message if message.endswith((".", "?", "!")) else message + "."


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _warn_if_short(password: str) -> None:
    """On stderr, so that a script reading the command's output reads only its result."""
    _refusal, warning = directory.check_operator_password(password)
    if warning:
        click.echo(f"Warning: {warning} Sign-in forms ask for at least "
                   f"{directory.MIN_PASSWORD_LENGTH}; choose a longer one for a real account.", err=True)


@offices_cli.command("create")
@click.argument("name")
def offices_create(name: str) -> None:
    """Create an office (and its office inbox)."""
    try:
        office = directory.create_office(name)
    except directory.DirectoryError as exc:
        _fail(str(exc))
    # For every admin: nobody belongs to the new office yet, so none would see it otherwise.
    audit.record(None, "office.created", f"Created office {office.name} on the command line", [office],
                 {"via": "cli"}, org_wide=True)
    db.session.commit()
    click.echo(f"Created office {office.name!r}.")
    join = f"users join EMAIL --office {shlex.quote(office.name)}"
    click.echo(f"Nobody belongs to it yet: an admin manages it once they join it ({join}).", err=True)


@offices_cli.command("quiet-hours")
@click.argument("name")
@click.option("--tz", "zone", help="IANA time zone of the office, e.g. America/New_York.")
@click.option("--start", help="When quiet hours begin, HH:MM (24-hour), e.g. 21:00.")
@click.option("--end", help="When they end, HH:MM, e.g. 08:00.")
@click.option("--off", is_flag=True, help="Switch quiet hours off.")
def offices_quiet_hours(name: str, zone: str | None, start: str | None, end: str | None, off: bool) -> None:
    """Quiet hours: texts wait for their end (agents' replies to a contact who texted within the
    hour excepted)."""
    try:
        office = directory.office_by_name(name)
    except directory.DirectoryError as exc:
        _fail(str(exc))
    if off:
        if zone or start or end:
            _fail("Give either --off or --tz, --start and --end, not both.")
        offices.clear_quiet_hours(None, office)
        db.session.commit()
        click.echo(f"Quiet hours of {office.name} are off.")
        _release_held(office)
        return
    if not (zone and start and end):
        _fail("Give --tz, --start and --end, e.g. --tz America/New_York --start 21:00 --end 08:00; or --off.")
    try:
        quiet = offices.set_quiet_hours(None, office, zone, start, end)
    except offices.SettingsError as exc:
        _fail(str(exc))
    db.session.commit()
    click.echo(f"Quiet hours of {office.name}: {quiet.describe()}.")
    _release_held(office)


def _release_held(office) -> None:
    """Texts the old quiet hours held that the new settings let go leave now."""
    released = scheduling.release_office_due(office.id)
    if released:
        click.echo(f"{released} held text{'' if released == 1 else 's'} released for sending now.")


@offices_cli.command("retention")
@click.argument("name")
@click.option("--days", help="Erase message text and pictures older than this many days, nightly.")
@click.option("--off", is_flag=True, help="Keep messages without limit.")
def offices_retention(name: str, days: str | None, off: bool) -> None:
    """Retention: how many days message text and pictures are kept."""
    try:
        office = directory.office_by_name(name)
    except directory.DirectoryError as exc:
        _fail(str(exc))
    if off == (days is not None):
        _fail("Give either --days N or --off.")
    if off:
        offices.clear_retention(None, office)
        db.session.commit()
        click.echo(f"Retention of {office.name} is off: messages are kept without limit.")
        return
    try:
        kept = offices.set_retention(None, office, days)
    except offices.SettingsError as exc:
        _fail(str(exc))
    db.session.commit()
    kept_for = f"{kept} day{'' if kept == 1 else 's'}"
    click.echo(f"{office.name} keeps message text {kept_for}; older text is erased nightly.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["admin", "standard", "limited"]))
@click.option("--password", required=True)
@click.option("--name", default=None, help="Display name (default: the email's local part).")
@click.option("--office", "offices", multiple=True, help="Office to join (repeatable).")
def users_create(email: str, role: str, password: str, name: str | None, offices: tuple) -> None:
    """Create a user with a role, in one or more offices."""
    try:
        user = directory.create_user(email, role, password, name=name, office_names=offices)
    except directory.DirectoryError as exc:
        _fail(str(exc))
    joined = ", ".join(office.name for office in user.offices) or "no office"
    audit.record(
        None,
        "user.created",
        f"Created {user.name} ({user.email}) as {user.role_label} in {joined} on the command line",
        user.offices,
        {"user_id": user.id, "role": user.role, "offices": [o.id for o in user.offices], "via": "cli"},
        org_wide=not user.offices,  # in no office: for every admin, or for none
    )
    db.session.commit()
    _warn_if_short(password)
    if not offices:
        click.echo("Warning: this user belongs to no office, so they see no conversations until they "
                   "join one (--office, or the admin console).", err=True)
    click.echo(f"Created {user.role_label} user {user.email}.")


@users_cli.command("join")
@click.argument("email")
@click.option("--office", "offices", multiple=True, required=True, help="Office to join (repeatable).")
def users_join(email: str, offices: tuple) -> None:
    """Add an existing user to offices, e.g. an admin to an office made on the command line."""
    try:
        user = directory.user_by_email(email)
        lock_users([user.id])  # as the console does before changing what a user reaches
        before = list(user.offices)
        joined = directory.join_offices(user, offices)
    except directory.DirectoryError as exc:
        _fail(str(exc))
    if not joined:
        click.echo(f"{user.email} is in {', '.join(offices)} already; nothing changed.")
        return
    names = ", ".join(office.name for office in joined)
    # Worded and shaped as the console's change of offices, for the admins of every office concerned.
    audit.record(
        None, "user.updated", f"{user.name}: added to {names} on the command line", [*before, *joined],
        {"user_id": user.id, "offices": [sorted(o.id for o in before), sorted(o.id for o in user.offices)],
         "via": "cli"},
    )  # fmt: skip
    db.session.commit()
    click.echo(f"{user.email} joined {names}.")


@users_cli.command("set-password")
@click.argument("email")
@click.option(
    "--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for when left out."
)
def users_set_password(email: str, password: str) -> None:
    """Break glass: give a user a new password (their sessions end). With PASSWORD_LOGIN=off it
    works once password login is turned back on, e.g. while the identity provider is down."""
    try:
        directory.set_password(email, password)
    except directory.DirectoryError as exc:
        _fail(str(exc))
    db.session.commit()
    _warn_if_short(password)
    click.echo(f"New password set for {email.strip().lower()}; their sessions have ended.")


@numbers_cli.command("add")
@click.argument("e164")
@click.option("--office", required=True)
@click.option("--provider", required=True)
@click.option("--backing", required=True, type=click.Choice(["agent", "bot"]))
@click.option("--agent", "agents", multiple=True, help="Assigned agent's email (repeatable).")
@click.option("--inbox", "inboxes", multiple=True, help="Assigned office inbox (repeatable).")
@click.option("--label", default="")
@click.option("--description", default="")
def numbers_add(
    e164: str,
    office: str,
    provider: str,
    backing: str,
    agents: tuple,
    inboxes: tuple,
    label: str,
    description: str,
) -> None:
    """Add a reusable number with its Unsolicited Message Settings."""
    try:
        number = directory.add_number(
            e164,
            office,
            provider,
            backing,
            enabled_providers=list(current_app.extensions["parley"].sms_providers),
            agent_emails=agents,
            inbox_offices=inboxes,
            label=label,
            description=description,
        )
    except directory.DirectoryError as exc:
        _fail(str(exc))
    audit.record(
        None,
        "number.added",
        f"Added {format_phone(number.phone)} to {number.office.name} ({number.backing}-backed, "
        f"{number.provider}) on the command line",
        [number.office, *number.inboxes],
        {"number_id": number.id, "phone": number.phone, "via": "cli"},
    )
    db.session.commit()
    click.echo(f"Added {number.phone} ({number.backing}-backed, {number.provider}).")


@campaigns_cli.command("import")
@click.argument("name")
@click.argument("csv_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--office", required=True)
@click.option("--launch", is_flag=True, help="Launch the campaign after importing.")
def campaigns_import(name: str, csv_path: Path, office: str, launch: bool) -> None:
    """Import a campaign's contact list (first_name,last_name,phone + extra columns)."""
    if not csv_path.exists():
        _fail(f"No such file: {csv_path}")
    try:
        with csv_path.open("rb") as raw:
            report = campaigns.import_campaign(name, office, raw, launch=launch)
    except (campaigns.CampaignError, directory.DirectoryError) as exc:
        for error in getattr(exc, "errors", []):
            click.echo(f"line {error.line}: {error.reason}", err=True)
        _fail(str(exc))
    campaign = report.campaign
    audit.record(
        None,
        "campaign.saved",
        f"Saved campaign {campaign.name} as a draft for {campaign.office.name} on the command line: "
        f"{_count(report.imported, 'contact')} from {click.format_filename(csv_path, shorten=True)} "
        f"({_count(len(report.errors), 'invalid row')} left out)",
        [campaign.office],
        {"campaign_id": campaign.id, "via": "cli"},
    )
    if launch:
        _audit_launch(campaign)
    db.session.commit()
    for error in report.errors:
        click.echo(f"line {error.line}: {error.reason}", err=True)
    if report.warning:
        click.echo(f"Warning: {report.warning}", err=True)
    state = "launched" if launch else "draft"
    contacts = "contact" if report.imported == 1 else "contacts"
    rows = "invalid row" if len(report.errors) == 1 else "invalid rows"
    click.echo(
        f"Imported {report.imported} {contacts} into {state} campaign {campaign.name!r}; "
        f"{len(report.errors)} {rows} skipped."
    )


@campaigns_cli.command("launch")
@click.argument("name")
def campaigns_launch(name: str) -> None:
    """Mark a draft campaign launched: its contacts' names now show in the inbox."""
    try:
        campaign = campaigns.campaign_by_name(name)
        campaigns.launch_campaign(campaign)
    except campaigns.CampaignError as exc:
        _fail(str(exc))
    _audit_launch(campaign)
    db.session.commit()
    click.echo(f"Launched campaign {campaign.name!r}.")


def _audit_launch(campaign: Campaign) -> None:
    audit.record(
        None,
        "campaign.launched",
        f"Launched campaign {campaign.name} ({_count(campaign.contact_count, 'contact')}) "
        "on the command line",
        [campaign.office],
        {"campaign_id": campaign.id, "via": "cli"},
    )


@sms_cli.command("receive")
@click.option("--from", "from_phone", required=True, help="The contact's phone.")
@click.option("--to", "to_phone", required=True, help="The reusable number (E.164, or US in any format).")
@click.option("--text", required=True)
def sms_receive(from_phone: str, to_phone: str, text: str) -> None:
    """Feed an incoming text through the inbound pipeline, exactly as a provider webhook would."""
    try:
        contact = parse_any_phone(from_phone)
    except PhoneError as exc:
        _fail(f"--from: {_sentence(str(exc))}")
    try:
        # E.164 as numbers are added; without its "+", a number is read as the compose form reads it.
        e164 = to_phone.strip().startswith("+")
        number = normalise_provider_phone(to_phone) if e164 else parse_any_phone(to_phone)
    except PhoneError as exc:
        _fail(f"--to: {_sentence(str(exc))}")
    try:
        result = inbound.receive(
            InboundMessage(from_phone=contact, to_phone=number, body=text), provider="console"
        )
    except (PhoneError, inbound.InboundError) as exc:
        _fail(_sentence(str(exc)))
    click.echo(f"Received into conversation {result.conversation_id}.")


@kb_cli.command("add")
@click.argument("office")
@click.option(
    "--question",
    "questions",
    required=True,
    multiple=True,
    help="A phrasing or keyword contacts use (repeatable; or several, one per line).",
)
@click.option("--answer", required=True, help="The text the bot sends back.")
def kb_add(office: str, questions: tuple, answer: str) -> None:
    """Add a knowledge-base entry to an office."""
    try:
        found = directory.office_by_name(office)
        entry = knowledge_base.add_entry(found, "\n".join(questions), answer)
    except (directory.DirectoryError, knowledge_base.KnowledgeBaseError) as exc:
        _fail(str(exc))
    db.session.commit()
    click.echo(
        f"Added knowledge-base entry {entry.id} to {found.name!r} "
        f"({len(entry.phrasings)} phrasing{'s' if len(entry.phrasings) != 1 else ''})."
    )


@kb_cli.command("idk")
@click.argument("office")
@click.option("--escalate", is_flag=True, help="Hand the conversation to agents (Needs Attention).")
@click.option("--message", default=None, help="Send this text instead.")
def kb_idk(office: str, escalate: bool, message: str | None) -> None:
    """What the bot does when it does not know: --escalate, or --message TEXT."""
    if escalate and message is not None:
        _fail("Choose either --escalate or --message TEXT, not both.")
    if not escalate and message is None:
        _fail("Choose what the bot does when it does not know: --escalate or --message TEXT.")
    try:
        found = directory.office_by_name(office)
        knowledge_base.set_idk(found, "escalate" if escalate else "message", message)
    except (directory.DirectoryError, knowledge_base.KnowledgeBaseError) as exc:
        _fail(str(exc))
    db.session.commit()
    if escalate:
        click.echo(f"{found.name}: when the bot does not know, an agent takes over.")
    else:
        click.echo(f"{found.name}: when the bot does not know, it answers {found.idk_message!r}.")


@kb_cli.command("list")
@click.argument("office")
def kb_list(office: str) -> None:
    """List an office's knowledge-base entries and its "I don't know" setting."""
    try:
        found = directory.office_by_name(office)
    except directory.DirectoryError as exc:
        _fail(str(exc))
    for entry in knowledge_base.entries(found):
        # Typed on the web: printed so that no character of theirs drives the terminal.
        click.echo(f"#{entry.id}  {printable(' | '.join(entry.phrasings))}")
        click.echo(f"     → {printable(entry.answer)}")
    if found.idk_action == "message":
        click.echo(f"I don't know: answer {found.idk_message!r}")
    else:
        click.echo("I don't know: escalate to agents")


@api_keys_cli.command("create")
@click.argument("name")
@click.option("--office", required=True, help="The office whose numbers and conversations the key reaches.")
def api_keys_create(name: str, office: str) -> None:
    """Create an API key; the key is printed once, on the last line, and only its hash is kept."""
    try:
        new = api_keys.create_key(name, directory.office_by_name(office), created_by=None)
    except (api_keys.ApiKeyError, directory.DirectoryError) as exc:
        _fail(str(exc))
    db.session.commit()
    click.echo(f"Created API key {new.key.name!r} for {new.key.office.name}.")
    click.echo("Keep it secret; it is not shown again:")
    click.echo(new.secret)


@api_keys_cli.command("revoke")
@click.argument("name")
@click.option("--office", help="The office whose key it is, when keys of several offices have that name.")
def api_keys_revoke(name: str, office: str | None) -> None:
    """Revoke the active API key of that name: its next request gets 401."""
    keys = api_keys.active_keys_named(name)
    if office is not None:
        try:
            office_id = directory.office_by_name(office).id
        except directory.DirectoryError as exc:
            _fail(str(exc))
        keys = [key for key in keys if key.office_id == office_id]
    if not keys:
        _fail(f"No active API key named {name!r}{f' in {office}' if office else ''}.")
    if len({key.office_id for key in keys}) < len(keys):  # kept from before names ignored case
        alike = ", ".join(repr(key.name) for key in keys)
        office_name = keys[0].office.name
        _fail(f"{office_name} has several active API keys named alike ({alike}); give the exact name.")
    if len(keys) > 1:
        offices = ", ".join(key.office.name for key in keys)
        _fail(f"Several offices have an active API key named {name!r} ({offices}); say which with --office.")
    (key,) = keys
    api_keys.revoke_key(key, revoked_by=None)
    db.session.commit()
    click.echo(f"Revoked API key {key.name!r}.")


@webhooks_cli.command("add")
@click.argument("url")
@click.option("--office", required=True, help="The office whose events the endpoint receives.")
@click.option("--event", "events", multiple=True, help="An event type to send (repeatable; default: all).")
def webhooks_add(url: str, office: str, events: tuple) -> None:
    """Add a webhook endpoint; its signing secret (whsec_...) is printed on the last line."""
    try:
        added = webhooks.add_endpoint(
            url, directory.office_by_name(office), events, created_by=None,
            allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE"],
        )  # fmt: skip
    except (webhooks.WebhookError, directory.DirectoryError) as exc:
        _fail(str(exc))
    db.session.commit()
    endpoint = added.endpoint
    if added.warning:
        # On stderr: scripts read the secret from the last line of stdout.
        click.echo(f"Warning: {added.warning}", err=True)
    click.echo(f"Added webhook endpoint {endpoint.url} for {endpoint.office.name}.")
    click.echo("Its signing secret (verify each request's webhook-signature with it):")
    click.echo(endpoint.secret)


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def seed_demo(if_empty: bool) -> None:
    """Demo data: an office, a user of each role, two numbers, a launched campaign."""
    from webapp.services.demo import seed

    # An office alone (made by `offices create`) would clash with the demo's names.
    if db.session.scalar(select(func.count()).select_from(User)) or db.session.scalar(
        select(func.count()).select_from(Office)
    ):
        if if_empty:
            click.echo("The database already has data; demo not seeded.")
            return
        _fail("The database already has offices or users; seed-demo only fills an empty database.")
    for line in seed():
        click.echo(line)


@click.command("worker")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Worker threads.")
def worker(workers: int) -> None:
    """Run the queue consumer: sends messages, retries, sweeps stuck ones, delivers webhooks."""
    huey = current_app.extensions["parley.huey"]
    click.echo(
        f"Parley worker: {workers} threads on {queue.shown_url(current_app.config['QUEUE_URL'])}, and up to "
        f"{current_app.config['WEBHOOK_CONCURRENCY']} for webhook deliveries"
    )
    # A queue that is down (Redis restarting) is waited for: the consumer polls it until it is
    # back, saying so in a line each time, and the sweep queues again what waited meanwhile.
    queue.quiet_outage_logs()
    # Recover first: messages a crashed worker left behind, or queued while the queue was down.
    current_app.extensions["parley.tasks"].sweep_at_start()
    try:
        huey.create_consumer(workers=workers, worker_type="thread", periodic=True).run()
    finally:
        current_app.extensions["parley.tasks"].delivery_threads.stop()


@click.command("plugins")
def plugins() -> None:
    """List installed and enabled plugins."""
    registry = current_app.extensions["parley"]
    enabled = {
        "parley.sms_providers": set(registry.sms_providers),
        "parley.contact_resolvers": {r.name for r in registry.contact_resolvers},
        "parley.bots": set(registry.bots),
    }
    for group in GROUPS:
        click.echo(f"{group}:")
        names = installed(group)
        if not names:
            click.echo("  (none installed)")
        for name in names:
            click.echo(f"  {name}{'  [enabled]' if name in enabled[group] else ''}")


NO_TABLES = "The database has no tables yet: run `flask --app webapp db upgrade` first."
BEHIND = (
    "The database lacks migrations this version of Parley needs: run `flask --app webapp db upgrade` "
    "first."
)


def _require_tables() -> None:
    """Refuse, in one line, to run against a database that was never migrated or lacks this code's
    latest migrations (it would end in a traceback about a missing table or column)."""
    # The session's own connection: a second one could wait on a lock the session holds (SQLite).
    began_here = not db.session().in_transaction()
    try:
        pending = schema.pending(db.session.connection())
    except DBAPIError as exc:
        if not transactions.out_of_reach(exc):
            raise
        db.session.rollback()
        raise click.ClickException(f"The database could not be reached: {transactions.reason(exc)}") from exc
    if began_here:
        # Left open, this read would last as long as the command: the worker's, for days.
        db.session.rollback()
    if pending:
        raise click.ClickException(NO_TABLES if pending == "never" else BEHIND)


def _wait_for_database() -> None:
    """Until the database answers, try again every DATABASE_RETRY_SECONDS, saying why in one line
    each time: a worker started with the database down (restarting, failing over, not yet created,
    a container started first) waits for it, as it waits for a queue that is down."""
    while True:
        try:
            with db.engine.connect() as connection:
                connection.execute(select(1))
            return
        except DBAPIError as exc:
            if not transactions.out_of_reach(exc):
                raise
            log.warning(
                "database unavailable: %s, retrying in %g s", transactions.reason(exc), DATABASE_RETRY_SECONDS
            )
        time.sleep(DATABASE_RETRY_SECONDS)


def _refuse_undecodable_text() -> None:
    """An argument that was not UTF-8 (a Latin-1 terminal's "é") arrives with stand-ins no
    database keeps: refuse it in one line naming it. File paths may be any bytes, as on disk."""
    context = click.get_current_context()
    for param in context.command.params:
        value = context.params.get(param.name)
        if isinstance(param.type, click.Path):
            continue
        for item in value if isinstance(value, tuple | list) else (value,):
            if isinstance(item, str) and unstorable(item):
                raise click.ClickException(
                    f"{param.get_error_hint(context)} is not valid UTF-8 text; check the "
                    "terminal's or the script's encoding."
                )


def _needing_tables(command: click.Command, wait: bool = False) -> click.Command:
    """The command (each of a group's), checking its text arguments and then for the tables
    before it runs; with `wait`, after waiting for the database to answer."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _needing_tables(sub, wait)
        return command
    run = command.callback
    if run is None or getattr(run, "checks_tables", False):
        return command  # the commands are module-level: every create_app registers them again

    @functools.wraps(run)
    @with_appcontext
    def checked(*args: object, **kwargs: object) -> object:
        _refuse_undecodable_text()
        if wait:
            _wait_for_database()
        _require_tables()
        return run(*args, **kwargs)

    checked.checks_tables = True  # type: ignore[attr-defined]
    command.callback = checked
    return command


def register(app: Flask) -> None:
    for command in (
        offices_cli, users_cli, numbers_cli, campaigns_cli, sms_cli, kb_cli, api_keys_cli, webhooks_cli,
        seed_demo,
    ):  # fmt: skip
        app.cli.add_command(_needing_tables(command))
    app.cli.add_command(_needing_tables(worker, wait=True))
    app.cli.add_command(plugins)  # reads no table
