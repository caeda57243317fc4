"""The product's operations that more than one command (or event) uses: looking things up,
submitting, voting, cards, final polls, challenge rooms, vote counts, the guided submission.

Services hold no routers: a command module (``handlers/commands/``) declares what people type
and calls into these; command modules never import each other.
"""
