"""The Matrix front end: the only part of the bot that knows matrix-nio.

A front end stands between a chat network and the core. Inbound, it turns its platform's events
(messages, reactions, redactions, poll answers, invites, joins) into the core's incoming events
and hands them to :class:`handlers.dispatch.Dispatcher`; outbound, it carries out the core's
outgoing kinds (:class:`storage.outbox_kinds.OutboxKind`, each with its payload model in
:mod:`bot.outbox`) on its platform, for the delivery loop (:mod:`bot.delivery`). Everything else
(the process, configuration, the outbox and its delivery loop, the sweeper, the card refresher,
metrics and health) is shared by every front end and lives in :mod:`bot` beside this package.
"""
