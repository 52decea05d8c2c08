"""Queue tasks: send a message (with retries), the bot answering a contact in a bot-mode
conversation, keeping a contact's pictures, an activity webhook's delivery, the sweep that
re-queues stuck messages, lost bot answers and lost deliveries, and the two halves of a campaign
contact-list import (check, then insert)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import Flask
from huey import Huey, crontab

from webapp import transactions
from webapp.queue import make_huey
from webapp.services import bots, exports, media, retention, scheduling, sending, webhooks
from webapp.services.admin import campaigns as campaign_imports

log = logging.getLogger(__name__)

SWEEP_RETRY_SECONDS = 5.0  # a worker's first sweep, while the queue cannot be reached


class DeliveryThreads:
    """Webhook deliveries run on threads of their own, so an endpoint that is slow or hangs (up to
    WEBHOOK_TIMEOUT_SECONDS an attempt) holds one of these, never a thread that sends texts. One
    endpoint has at most half of them at a time (at least one): its other deliveries wait their
    turn here, so an endpoint that hangs leaves the rest to the office's other endpoints and to
    other offices'. A delivery still waiting when the worker stops stays pending in the database,
    and the sweep requests it again."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.per_endpoint = max(1, size // 2)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._running: Counter[int] = Counter()  # an endpoint's deliveries on the threads
        self._waiting: defaultdict[int, deque[Callable[[], None]]] = defaultdict(deque)

    def submit(self, endpoint_id: int, work: Callable[[], None]) -> None:
        with self._lock:
            if self._running[endpoint_id] >= self.per_endpoint:
                self._waiting[endpoint_id].append(work)
                return
            self._running[endpoint_id] += 1
            self._start(endpoint_id, work)

    def _start(self, endpoint_id: int, work: Callable[[], None]) -> None:
        # Made on first use: web processes, which only enqueue, never start these.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="webhook-delivery")
        self._executor.submit(self._run, endpoint_id, work)

    def _run(self, endpoint_id: int, work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            with self._lock:
                waiting = self._waiting.get(endpoint_id)
                if waiting and self._executor is not None:
                    self._start(endpoint_id, waiting.popleft())  # its turn goes to the next
                else:
                    self._waiting.pop(endpoint_id, None)
                    if self._running[endpoint_id] > 1:
                        self._running[endpoint_id] -= 1
                    else:  # its last (or counted no more: the threads were stopped meanwhile)
                        self._running.pop(endpoint_id, None)

    def stop(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            self._running.clear()
            self._waiting.clear()


@dataclass(frozen=True)
class Tasks:
    send_message: object
    sweep_stuck_messages: object
    # Defaults keep a Tasks built by hand (tests holding the send queue) valid.
    answer_with_bot: object = None
    check_campaign_import: object = None
    import_campaign_contacts: object = None
    deliver_webhook: object = None
    sweep_at_start: Callable[[], None] | None = None
    delivery_threads: DeliveryThreads | None = None
    release_held_messages: object = None
    build_office_export: object = None
    keep_inbound_pictures: object = None


def init_queue(app: Flask) -> None:
    """The app's queue, with Parley's tasks registered on it (services enqueue via webapp.queue)."""
    huey = make_huey(app.config["QUEUE_URL"], immediate=app.config["QUEUE_IMMEDIATE"])
    app.extensions["parley.huey"] = huey
    app.extensions["parley.tasks"] = register(huey, app)


def register(huey: Huey, app: Flask) -> Tasks:
    @huey.task(name="send_message")
    def send_message(message_id: int) -> None:
        with app.app_context():
            retry_in = sending.deliver(message_id)
        if retry_in is not None:
            send_message.schedule((message_id,), delay=retry_in)

    @huey.task(name="answer_with_bot")
    def answer_with_bot(message_id: int) -> None:
        # Off the webhook's request: the bot may take seconds (it runs with a deadline).
        with app.app_context():
            bots.answer(message_id)

    @huey.task(name="keep_inbound_pictures")
    def keep_inbound_pictures(message_id: int, attempt: int = 1) -> None:
        # Off the webhook's request: the provider may be slow to hand the files over.
        with app.app_context():
            retry_in = media.keep_inbound(message_id, attempt)
        if retry_in is not None:
            keep_inbound_pictures.schedule((message_id, attempt + 1), delay=retry_in)

    delivery_threads = DeliveryThreads(app.config["WEBHOOK_CONCURRENCY"])

    def deliver(delivery_id: int) -> None:
        try:
            with app.app_context():
                retry_in, following = webhooks.attempt(delivery_id)
            if retry_in is not None:
                deliver_webhook.schedule((delivery_id,), delay=retry_in)
            for next_id in following:
                deliver_webhook(next_id)
        except Exception:  # the delivery stays pending: the sweep requests it again
            log.exception("webhook delivery %s failed", delivery_id)

    @huey.task(name="deliver_webhook")
    def deliver_webhook(delivery_id: int) -> None:
        if huey.immediate:
            deliver(delivery_id)  # tests: inline, like every task
            return
        with app.app_context():
            endpoint_id = webhooks.endpoint_of(delivery_id)
        if endpoint_id is not None:
            delivery_threads.submit(endpoint_id, lambda: deliver(delivery_id))

    @huey.periodic_task(crontab(minute="*"), name="sweep_stuck_messages")
    def sweep_stuck_messages() -> bool:
        """Every minute (and when a worker starts): recover what a crash or a queue outage left.
        False when the queue could not be reached (a periodic task's result is not stored)."""
        with app.app_context():
            sending.fail_interrupted_sends()
            sending.escalate_unconfirmed_bot_answers()
            stuck = sending.stuck_message_ids()
            unanswered = bots.sweep_unanswered()
            lost_deliveries = webhooks.due_deliveries()
        try:
            for message_id in stuck:
                send_message(message_id)
            for delivery_id in lost_deliveries:
                deliver_webhook(delivery_id)
            for message_id in unanswered:
                answer_with_bot(message_id)
        except Exception as exc:  # Redis down or restarting, the SQLite queue file unopenable, …
            # All of it still waits in the database for the next sweep: a worker must outlive a
            # Redis restart (this sweep also runs as it starts), and asking again now would fail too.
            log.warning(
                "the queue could not be reached (%s: %s); waiting in the database for the next "
                "sweep: texts to send %d, webhook deliveries %d, bot answers %d",
                type(exc).__name__, exc, len(stuck), len(lost_deliveries), len(unanswered),
            )  # fmt: skip
            return False
        return True

    def sweep_at_start() -> None:
        """A worker's first sweep. While the queue is down (Redis restarting as the worker starts)
        it is tried again every SWEEP_RETRY_SECONDS on a thread of its own until the queue takes
        what waited, which is then sent as soon as the queue is back, not at the next minute's."""
        if sweep_stuck_messages.call_local():
            return

        def retry() -> None:
            while True:
                time.sleep(SWEEP_RETRY_SECONDS)
                try:
                    if sweep_stuck_messages.call_local():
                        return
                except Exception as exc:
                    if not transactions.out_of_reach(exc):
                        raise
                    log.warning(  # the database gone too: tried again, like the queue
                        "start-up sweep: database unavailable: %s, retrying in %g s",
                        transactions.reason(exc), SWEEP_RETRY_SECONDS,
                    )  # fmt: skip

        threading.Thread(target=retry, name="start-up sweep", daemon=True).start()

    @huey.periodic_task(crontab(minute="*"), name="release_held_messages")
    def release_held_messages() -> None:
        """Every minute: held messages whose time has come (quiet hours over, a Send later time
        reached) go to the send queue; each is released by one worker only."""
        with app.app_context():
            scheduling.release_due()

    @huey.periodic_task(crontab(hour="3", minute="17"), name="erase_expired_messages")
    def erase_expired_messages() -> None:
        """Nightly: offices' retention policies erase message text older than they keep."""
        with app.app_context():
            retention.run_nightly()

    @huey.task(name="build_office_export")
    def build_office_export(export_id: int) -> None:
        with app.app_context():
            exports.build(export_id)

    @huey.periodic_task(crontab(minute="41"), name="delete_expired_exports")
    def delete_expired_exports() -> None:
        """Hourly: an export's file is deleted once its download link has expired."""
        with app.app_context():
            exports.delete_expired()

    @huey.periodic_task(crontab(minute="23"), name="prune_webhook_log")
    def prune_webhook_log() -> None:
        """Hourly: the webhook delivery log keeps WEBHOOK_LOG_DAYS of finished deliveries, and
        an endpoint's previous secret is dropped once its day after a rotation is over."""
        with app.app_context():
            webhooks.prune_log()
            webhooks.forget_previous_secrets()

    @huey.task(name="check_campaign_import")
    def check_campaign_import(import_id: int) -> None:
        with app.app_context():
            campaign_imports.check_rows(import_id)

    @huey.task(name="import_campaign_contacts")
    def import_campaign_contacts(import_id: int) -> None:
        with app.app_context():
            campaign_imports.import_contacts(import_id)

    return Tasks(
        send_message=send_message,
        sweep_stuck_messages=sweep_stuck_messages,
        answer_with_bot=answer_with_bot,
        check_campaign_import=check_campaign_import,
        import_campaign_contacts=import_campaign_contacts,
        deliver_webhook=deliver_webhook,
        sweep_at_start=sweep_at_start,
        delivery_threads=delivery_threads,
        release_held_messages=release_held_messages,
        build_office_export=build_office_export,
        keep_inbound_pictures=keep_inbound_pictures,
    )
