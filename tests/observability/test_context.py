import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from promptproc.observability import current_context, visit_context, with_current_context


def test_nested_contexts_restore() -> None:
    assert current_context() == {}
    with visit_context(instrument="SimCam", group="g1") as outer:
        assert outer == {"instrument": "SimCam", "group": "g1"}
        with visit_context(detector=4, group="g2"):
            assert current_context() == {"instrument": "SimCam", "group": "g2", "detector": 4}
            with visit_context(detector=None):
                assert current_context() == {"instrument": "SimCam", "group": "g2"}
            assert current_context()["detector"] == 4
        assert current_context() == {"instrument": "SimCam", "group": "g1"}
    assert current_context() == {}


def test_context_restored_after_an_exception() -> None:
    with visit_context(group="g1"):
        with pytest.raises(RuntimeError), visit_context(group="g2", phase="run"):
            raise RuntimeError("boom")
        assert current_context() == {"group": "g1"}


def test_returned_context_is_a_copy() -> None:
    with visit_context(group="g1"):
        copy = current_context()
        copy["group"] = "changed"
        assert current_context() == {"group": "g1"}


def test_threads_need_the_context_copied() -> None:
    seen: dict[str, dict] = {}
    with visit_context(detector=4):
        plain = threading.Thread(target=lambda: seen.update(plain=current_context()))
        bound = threading.Thread(target=with_current_context(lambda: seen.update(bound=current_context())))
        plain.start()
        bound.start()
        plain.join()
        bound.join()
    assert seen == {"plain": {}, "bound": {"detector": 4}}


def test_bound_callable_can_run_concurrently() -> None:
    with visit_context(group="g1"):
        task = with_current_context(lambda n: (n, current_context()["group"]))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(task, range(20)))
    assert results == [(n, "g1") for n in range(20)]
    assert current_context() == {}


def test_threads_do_not_see_each_others_context() -> None:
    barrier = threading.Barrier(2)
    seen: dict[int, dict] = {}

    def work(detector: int) -> None:
        with visit_context(detector=detector):
            barrier.wait()
            seen[detector] = current_context()

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {1: {"detector": 1}, 2: {"detector": 2}}


def test_asyncio_tasks_inherit_the_context() -> None:
    async def child() -> dict:
        return current_context()

    async def main() -> dict:
        with visit_context(group="async"):
            return await asyncio.create_task(child())

    assert asyncio.run(main()) == {"group": "async"}
