"""The running bot: the process, its config and clock, the outbox's delivery loop, the sweeper,
the card refresher, metrics and health. Each chat network is a front end beside these, in a
package of its own: the Matrix one is :mod:`bot.matrix`, the only place that imports nio."""
