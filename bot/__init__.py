"""The Matrix side: client, sync loop, events to commands, rendering and sending. Only here is nio."""
