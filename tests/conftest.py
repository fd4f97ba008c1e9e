"""Shared fixtures: real data from ../shared/data and the real embedded model, loaded once per run.

Tests that load the real model, train, drive the browser or run real Terraform are marked `slow`
(a test that asks for one of SLOW_FIXTURES is marked here, the rest in their modules), and every
unmarked test runs before them: `pytest -m "not slow"` is the quick loop, plain `pytest` runs all.
"""
from __future__ import annotations

import gc
from pathlib import Path

import pytest

from iacdemo.corpus.build import build_corpus
from iacdemo.settings import Settings, get_settings
from tests.real_terraform import TerraformCli, terraform_cli as find_terraform_cli

# Asking for one of these loads the real model, trains, starts the app or a real Terraform.
SLOW_FIXTURES = frozenset({"loaded_model", "tiny_model_dir", "app_server", "browser", "page", "terraform_cli"})


SLOW_GROUP = "slow"  # the xdist_group of every slow test


def _in_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    """Mark tests that need a slow fixture, then run the unmarked (fast) ones first, in their order.

    Under pytest-xdist (`make test` runs `-n 2 --dist loadgroup`) the slow tests are one group, listed
    first: one worker takes the whole group at once and runs it in this order, so the app, the browser
    and the loaded model start once, as in a plain run, while the other worker runs the fast tests,
    mostly one core's work, on the core the slow ones leave idle. Splitting the slow tests over both
    workers was slower than a plain run (bench/RESULTS.md, "Test suite wall time")."""
    in_worker = _in_xdist_worker(config)
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if in_worker and item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.xdist_group(SLOW_GROUP))
    # a stable sort on "runs late": the slow tests last in a plain run, first in an xdist worker
    items[:] = sorted(items, key=lambda item: (item.get_closest_marker("slow") is not None) != in_worker)


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
    not know yet whether it will get the slow group: it warms on its first slow test instead."""
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
