"""Shared fixtures: real data from ../shared/data and the real embedded model, loaded once per run.

Tests that load the real model, train, drive the browser or run real Terraform are marked `slow`
(a test that asks for one of SLOW_FIXTURES is marked here, the rest in their modules). A plain `pytest`
runs every unmarked test before them; under xdist the order is _run_order's. `pytest -m "not slow"` is the
quick loop.
"""
from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import pytest


def _share_the_cores() -> None:
    """Under xdist, each worker and every process it starts (the app, training jobs, CLIs) gets its share
    of the cores for torch's threads, set before torch is imported. With torch's default (all cores in
    every process) two workers ran twice as many busy threads as cores: a forward of the embedded model
    then costs 300 ms of CPU on 2 threads against 220 ms on one, and a descheduled thread stalls its
    partner. The suite took 898 s that way and 775 s with one thread each (bench/RESULTS.md, "Test suite
    wall time"). A value the user set is kept; a plain run keeps torch's default."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers < 1 or "OMP_NUM_THREADS" in os.environ:
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:  # imported by a plugin before us: its thread pool is already sized
        sys.modules["torch"].set_num_threads(threads)


_share_the_cores()  # before the imports below bring in torch

from iacdemo.corpus.build import build_corpus  # noqa: E402
from iacdemo.settings import Settings, get_settings  # noqa: E402
from tests.real_terraform import TerraformCli, terraform_cli as find_terraform_cli  # noqa: E402

# Asking for one of these loads the real model, trains, starts the app or a real Terraform.
SLOW_FIXTURES = frozenset({"loaded_model", "tiny_model_dir", "app_server", "browser", "page", "terraform_cli"})


BROWSER_GROUP = "browser"  # the xdist_group of the tests that drive the app in a browser


def _in_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _xdist_group(item) -> str:
    """The browser tests share one app, one Chromium and one model: one group, one worker. Every other
    test is grouped with its module, so a module's fixtures are built once, on one worker."""
    module = item.nodeid.split("::")[0]
    return BROWSER_GROUP if module.startswith("tests/browser/") else module


def _run_order(item, in_worker: bool) -> int:
    """A plain run: quick tests, then slow ones. An xdist worker (`make test` adds
    --no-loadscope-reorder, so the groups are handed out in this order): the browser group first, on one
    worker, while the other worker takes the other slow modules, then the quick ones; whichever worker
    is free takes the next module, so both finish close together."""
    slow = item.get_closest_marker("slow") is not None
    if not in_worker:
        return int(slow)
    return 0 if _xdist_group(item) == BROWSER_GROUP else 1 if slow else 2


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    """Mark tests that need a slow fixture, group them for xdist and order them (see _run_order)."""
    in_worker = _in_xdist_worker(config)
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if in_worker:
            item.add_marker(pytest.mark.xdist_group(_xdist_group(item)))
    items[:] = sorted(items, key=lambda item: _run_order(item, in_worker))  # stable: a module keeps its order


_warmed = False


def _warm_job_helper() -> None:
    """Start the job helper's imports now: the jobs of the slow tests are then forked from it
    (iacdemo/training/job_server.py) instead of each paying its own ~8 s of imports, as they would in
    the app once the Train tab has been opened."""
    global _warmed
    if not _warmed:
        _warmed = True
        from iacdemo.training.runner import warm_job_helper

        warm_job_helper(get_settings())


def pytest_collection_finish(session):
    """In a plain run, warm the job helper beside the fast tests, which run first. An xdist worker does
    not know yet whether it will get slow tests: it warms on its first slow test instead."""
    if not _in_xdist_worker(session.config) and any(item.get_closest_marker("slow") for item in session.items):
        _warm_job_helper()


def pytest_runtest_setup(item):
    if _in_xdist_worker(item.config) and item.get_closest_marker("slow") is not None:
        _warm_job_helper()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After each module (its fixtures gone): collect its garbage, then freeze what survives. What survives
    a module is session-long (the provider schema's ~300,000 objects, loaded models, caches), and
    without freezing, every full collection of the cyclic GC walks all of it again: about 0.8 s each, 12 %
    of the quick tests' time (bench/RESULTS.md, "Test suite wall time"). The collection first means no
    garbage is frozen, so nothing leaks."""
    yield
    if nextitem is None or nextitem.module is not item.module:
        gc.collect()
        gc.freeze()


@pytest.fixture(scope="session")
def settings() -> Settings:
    s = get_settings()
    if not s.corpus_dir.is_dir():
        pytest.fail(f"Real data not found at {s.data_dir}: tests need ../shared/data beside the repo "
                    "(or IACDEMO_DATA_DIR).")
    return s


@pytest.fixture(scope="session")
def loaded_model(settings):
    """The embedded default model (converted once into the cache, then loaded from safetensors)."""
    from iacdemo.models import load_model

    return load_model(settings=settings)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, loaded_model) -> Path:
    """A tiny random Qwen2 model with the real SmolLM2 tokenizer: for plumbing tests that need speed."""
    from iacdemo.models.tiny import save_tiny_model

    return save_tiny_model(loaded_model.tokenizer, tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def schema(settings):
    """The provider-docs schema (built once into the cache, then loaded). Modules that must build it
    themselves (to time it, or into a fresh cache) define their own `schema` fixture."""
    from iacdemo.terraform.schema import load_schema

    return load_schema(settings)


@pytest.fixture(scope="session")
def tasks(settings):
    """The 344 IaC-Eval dev tasks in CSV order: `tasks[i].id == i`."""
    from iacdemo.evaluation.tasks import load_tasks

    return load_tasks(settings=settings)


@pytest.fixture(scope="session")
def page_dataset(settings, tmp_path_factory, loaded_model) -> Path:
    """A real one-page corpus (DynamoDB contributor insights) for tests that launch training jobs."""
    out = tmp_path_factory.mktemp("page-data") / "page"
    build_corpus(None, out_dir=out, seq_len=256, services=["DynamoDB"],
                 path_pattern="*/r/dynamodb_contributor_insights.html.markdown", settings=settings,
                 tokenizer=loaded_model.tokenizer)
    return out


@pytest.fixture(scope="session")
def terraform_cli(tmp_path_factory) -> TerraformCli:
    """Real Terraform with the mirrored AWS provider, offline (skips, saying why, where either is absent)."""
    cli = find_terraform_cli(tmp_path_factory.mktemp("terraform"))
    if isinstance(cli, str):
        pytest.skip(cli)
    return cli
