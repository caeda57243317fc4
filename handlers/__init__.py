"""What citizens, students and moderators can do: commands, the events they answer, and the
services they share. Transport-free: no chat network here."""

from handlers.commands import (
    abuse,
    challenges,
    dialogue,
    following,
    general,
    ideas,
    linking,
    moderation,
    polls,
    privacy,
    results,
    status,
)
from handlers.registry import CommandRegistry


def build_registry() -> CommandRegistry:
    registry = CommandRegistry()
    for router in (
        general.router,
        challenges.router,
        ideas.router,
        moderation.router,
        abuse.router,
        privacy.router,
        linking.router,
        results.router,
        polls.router,
        dialogue.router,
        following.router,
        status.router,
    ):
        registry.include(router)
    registry.include(general.help_command(registry))
    return registry


__all__ = ["build_registry"]
