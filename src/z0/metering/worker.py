"""The usage roll-up process: `z0 serve` runs one, which rolls usage logs up every
`usage_rollup_interval_s` until SIGTERM (or until `z0 serve` dies).

It is a process of its own because the roll-up parses every usage line: in a thread beside a
gateway it would hold that process's GIL and delay its requests.

    python -m z0.metering.worker --parent PID      (settings in Z0_WORKER_SETTINGS, as JSON)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from z0.gateway.worker import SETTINGS_VARIABLE, stop_with_parent
from z0.metering.rollup import UsageRollup
from z0.registry import Registry, create_registry_engine
from z0.settings import Settings

__all__ = ["main", "roll_up_until_stopped"]


async def roll_up_until_stopped(settings: Settings) -> None:
    registry = Registry(create_registry_engine(settings.resolved_database_url))
    rollup = UsageRollup.for_settings(settings, registry.db)
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        await rollup.run_until(stopped, settings.usage_rollup_interval_s)
    finally:
        registry.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="z0's usage roll-up (started by `z0 serve`).")
    parser.add_argument("--parent", type=int, default=os.getppid())
    args = parser.parse_args(argv)
    stop_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from z0.server import configure_logging

    configure_logging()
    asyncio.run(roll_up_until_stopped(Settings.model_validate_json(os.environ[SETTINGS_VARIABLE])))


if __name__ == "__main__":
    main()
