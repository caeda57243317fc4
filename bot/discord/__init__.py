"""The Discord front end: slash commands, buttons, modals, reactions and native polls to the
same dispatcher as Matrix, and the outbox's rows for Discord carried out with discord.py. The
only package that imports discord."""
