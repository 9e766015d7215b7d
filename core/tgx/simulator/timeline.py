"""A scripted timeline: changes the world applies while clients are connected.

Steps are the scenario's ``timeline`` tables (see docs/testing.md): ``at`` seconds after the
first client (of this world, in this process) connected, post / edit / delete in a chat, or drop
every connection. The runner is an asyncio task on the loop of the client that connected, so
changes happen on the same thread as the requests they race with; if that loop ends before the
timeline does, the next client to connect resumes it (steps already due run at once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tgx.simulator.world import World

DROP_SECONDS = 0.5  # a transient drop's default length


class Timeline:
    """The world's scripted changes, in ``at`` order (ties keep their listed order)."""

    def __init__(self, world: World, steps: Sequence[Mapping[str, Any]]):
        self.world = world
        self.steps = sorted((dict(s) for s in steps), key=lambda s: float(s.get("at", 0)))
        self.next = 0  # index of the first step not yet applied
        self.t0: float | None = None
        self.task: asyncio.Task | None = None
        self.applied: list[tuple[float, dict[str, Any]]] = []  # (seconds after t0, step), for tests

    @property
    def done(self) -> bool:
        return self.next >= len(self.steps)

    def start(self) -> None:
        """Start (or resume) on the running loop; the clock starts at the first call."""
        if self.t0 is None:
            self.t0 = time.monotonic()
        if self.done or (self.task is not None and not self.task.done()):
            return
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self.t0 is not None
        while not self.done:
            step = self.steps[self.next]
            delay = self.t0 + float(step.get("at", 0)) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.next += 1
            self.apply(step)

    def apply(self, step: Mapping[str, Any]) -> None:
        """Apply one step now."""
        world = self.world
        self.applied.append((time.monotonic() - (self.t0 or time.monotonic()), dict(step)))
        if step.get("drop"):
            for listener in list(world.listeners):
                listener.drop(fatal=bool(step.get("fatal", False)),
                              seconds=float(step.get("seconds", DROP_SECONDS)))
            return
        apply_change(world, step)


def apply_change(world: World, step: Mapping[str, Any]) -> list[int]:
    """One ``changes`` / ``timeline`` entry: ``{chat, post = n}``, ``{chat, edit = [ids]}`` or
    ``{chat, delete = [ids]}``; returns the ids posted, edited or deleted."""
    chat = world.chat(step["chat"])
    if "post" in step:
        return world.post_messages(chat, int(step["post"]))
    if "edit" in step:
        return world.edit_messages(chat, step["edit"])
    if "pin" in step or "unpin" in step:
        return world.pin_messages(chat, step.get("pin", step.get("unpin", [])), pinned="pin" in step)
    return world.delete_messages(chat, step["delete"])


__all__ = ["DROP_SECONDS", "Timeline", "apply_change"]
