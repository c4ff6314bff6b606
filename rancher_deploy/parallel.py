"""Several targets at once: at most RANCHER_PARALLEL in flight, each in its own thread.

Threads, not processes or asyncio: a target's work is waiting on Rancher (HTTP and sleeps), the
session keeps one `requests.Session` per thread (`http.RancherSession`), and the signal handler,
which runs in the main thread, only sets a flag every wait reads. One target, or a bound of 1, runs
in the calling thread, exactly as before there were several.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from rancher_deploy.errors import DeployError

T = TypeVar("T")
R = TypeVar("R")


class NotStarted:
    """An item `each` did not start, because `stop()` said so when its turn came."""


NOT_STARTED = NotStarted()


def each(items: Sequence[T], work: Callable[[T], R], *, limit: int,
         stop: Callable[[], bool] = lambda: False) -> list[R | DeployError | NotStarted]:
    """`work(item)` for every item, at most `limit` at a time, in the order given.

    Returns one entry per item, in the items' order: what `work` returned, the DeployError it raised
    (so one target's error does not hide what the others did), or NOT_STARTED when `stop()` was true
    as its turn came (items already started run to their end). Anything else `work` raises (a
    programming error) is raised here once every started item has ended.
    """

    def one(item: T) -> R | DeployError | NotStarted:
        if stop():
            return NOT_STARTED
        try:
            return work(item)
        except DeployError as error:
            return error

    if limit <= 1 or len(items) <= 1:
        return [one(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor   # here: a run of one target needs no pool (~1 ms to import)

    with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="target") as pool:
        futures = [pool.submit(one, item) for item in items]
        return [future.result() for future in futures]


def concurrent(limit: int, count: int) -> bool:
    """Whether `count` targets under the bound `limit` run at once (then no log group wraps one)."""
    return limit > 1 and count > 1
