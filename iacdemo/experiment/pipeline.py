"""The experiment, step by step: slice -> CPT (plain, and better data) -> learned, kept, task -> report.

Each step's result is cached in the report folder (`steps.py`) and every model answer in its answer
cache, so a rerun skips what is done and an interrupted run continues. One model session is loaded
lazily and shared by all measuring steps; the adapters are attached to it by folder.

Systems compared on the same prompts: `base`, `tuned` (plain CPT), `tuned (better data)` (CPT with
instruction pairs, when enabled), `base + RAG`, `tuned + RAG` (BM25 docs excerpts in the prompt), and
`base + repair`, `tuned + repair` (the answer's diagnostics fed back for up to N more turns).
"""
from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from iacdemo.corpus.build import build_corpus
from iacdemo.corpus.sources import iter_docs
from iacdemo.errors import DataError
from iacdemo.evaluation.answers import AnswerCache, System, adapter_fingerprint, eval_gen_settings
from iacdemo.evaluation.comparison import evaluate_systems
from iacdemo.evaluation.tasks import load_tasks, select_tasks
from iacdemo.experiment import measures as M
from iacdemo.experiment.config import ExperimentConfig
from iacdemo.experiment.generate import Request, generate_requests
from iacdemo.experiment.repair import default_diagnostics, final_answer, repair
from iacdemo.experiment.repair_eval import repair_tasks
from iacdemo.experiment.report import write_report
from iacdemo.experiment.steps import StepCache, run_step
from iacdemo.experiment.training import train_run
from iacdemo.generation.perplexity import perplexity
from iacdemo.generation.session import ModelSession
from iacdemo.generation.side_by_side import GenSettings
from iacdemo.retrieval.bm25_index import format_context, get_default_index
from iacdemo.settings import SYSTEM_PROMPT, Settings, get_settings
from iacdemo.terraform.real import resolve_mode
from iacdemo.terraform.schema import _type_from_path, load_schema
from iacdemo.training.chat_mix import page_description
from iacdemo.training.data import load_rows, split_by_page
from iacdemo.training.runs import read_metrics, read_status_file

# (label, done, total): one progress bar per label
Progress = Callable[[str, int, int], Any]
Log = Callable[[str], Any]

BASE, TUNED, BETTER = "base", "tuned", "tuned (better data)"
BASE_RAG, TUNED_RAG = "base + RAG", "tuned + RAG"
BASE_REPAIR, TUNED_REPAIR = "base + repair", "tuned + repair"
GENERAL_SYSTEM_PROMPT = "You are a helpful assistant."
PROBE_FENCE = "```terraform\n"
FINGERPRINT_FILE = "experiment_fingerprint"


@dataclass
class ExperimentResult:
    report_dir: Path
    report: dict
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Experiment:
    """Holds what the steps share: config, settings, caches, the lazily loaded model session."""

    def __init__(self, config: ExperimentConfig, settings: Settings | None = None,
                 progress: Progress | None = None, log: Log | None = None):
        self.config = config
        self.settings = settings or get_settings()
        self.report_dir = config.report_dir(self.settings).resolve()
        self.progress = progress or (lambda label, done, total: None)
        self.log = log or (lambda message: None)
        self.steps = StepCache(self.report_dir)
        self.answers = AnswerCache(self.report_dir / "cache" / "answers")
        self._session = None
        self._lock = threading.Lock()
        self.adapters: dict[str, str] = {}  # system label (tuned, better) -> adapter folder
        self.ran: list[str] = []
        self.skipped: list[str] = []

    # -- shared pieces -----------------------------------------------------------------------------
    def session(self):
        with self._lock:
            if self._session is None:
                if self.config.measure.cpu_threads:
                    torch.set_num_threads(self.config.measure.cpu_threads)
                self.log(f"Loading {self.config.model} ...")
                self._session = ModelSession.load(self.config.model, settings=self.settings)
            return self._session

    def gen(self, max_new_tokens: int | None = None):
        return GenSettings(temperature=0.0, max_new_tokens=max_new_tokens or self.config.measure.max_new_tokens,
                           seed=42).validated(self.settings)

    def step(self, name: str, fingerprint: str, fn: Callable[[], dict]) -> dict:
        result, cached = run_step(self.steps, name, fingerprint, fn, self.log)
        (self.skipped if cached else self.ran).append(name)
        return result

    def generate(self, label: str, requests: list[Request], max_new_tokens: int | None = None) -> list[str]:
        out = generate_requests(requests, model_id=self.config.model, session_provider=self.session,
                                gen=self.gen(max_new_tokens), cache=self.answers,
                                batch_rows=self.config.measure.batch_rows, settings=self.settings,
                                progress=lambda done, total: self.progress(label, done, total))
        return [g.text for g in out]

    def adapter_fp(self, *labels: str) -> str:
        return "|".join(str(adapter_fingerprint(self.adapters[l])) for l in labels if l in self.adapters)

    def model_systems(self) -> list[str]:
        return [BASE, TUNED] + ([BETTER] if BETTER in self.adapters else [])

    def rag_context(self, query: str) -> str:
        hits = get_default_index(self.settings).search(query, self.config.measure.retrieval_k)
        return format_context(hits) if hits else ""

    def schema(self):
        return load_schema(self.settings)

    # -- chat answers of every system (RAG and repair included) ------------------------------------------
    def chat_answers(self, label: str, prompts: list[str], systems: list[str],
                     system_prompt: str = SYSTEM_PROMPT) -> dict[str, list[str]]:
        """{system: [answer per prompt]}; RAG systems get docs excerpts, repair systems repair rounds."""
        plain = [s for s in systems if s in self.model_systems()]
        rag = [s for s in systems if s in (BASE_RAG, TUNED_RAG)]
        contexts = {p: self.rag_context(p) for p in prompts} if rag else {}
        requests, owners = [], []
        for system in plain + rag:
            adapter = self.adapters.get(system.replace(" + RAG", ""))
            for prompt in prompts:
                messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": prompt}]
                requests.append(Request.chat(adapter, messages, contexts.get(prompt, "") if system in rag else ""))
                owners.append(system)
        texts = self.generate(label, requests)
        out: dict[str, list[str]] = {s: [] for s in plain + rag}
        for owner, text in zip(owners, texts):
            out[owner].append(text)
        for system in systems:
            if system in (BASE_REPAIR, TUNED_REPAIR):
                source = system.replace(" + repair", "")
                rounds = self.repair(f"{label} repair", source, [
                    [{"role": "system", "content": system_prompt}, {"role": "user", "content": p}] for p in prompts],
                    out[source])
                out[system] = [final_answer(r) for r in rounds]
                out[f"{system}:rounds"] = [[x.to_dict() for x in r] for r in rounds]
        return out

    def repair(self, label: str, source: str, conversations: list[list[dict]], first: list[str],
               max_new_tokens: int | None = None):
        adapter = self.adapters.get(source)

        def generate(histories: list[list[dict]]) -> list[str]:
            return self.generate(label, [Request.chat(adapter, h) for h in histories], max_new_tokens)

        return repair(conversations, first, generate=generate, diagnose=default_diagnostics(self.schema()),
                      rounds=self.config.measure.repair_rounds)

    # -- the steps -------------------------------------------------------------------------------------
    def run(self) -> ExperimentResult:
        # measure.cpu_threads sets torch's process-wide thread count; a caller that runs the experiment
        # in-process (a notebook, the tests) gets its own setting back afterwards.
        threads = torch.get_num_threads()
        try:
            return self._run()
        finally:
            torch.set_num_threads(threads)

    def _run(self) -> ExperimentResult:
        self.report_dir.mkdir(parents=True, exist_ok=True)
        results: dict[str, dict] = {}
        held_out = self.config.train_config("<dataset>", "<out>").eval_fraction  # decides the held-out pages
        results["slice"] = self.step("slice", f"{self.config.fingerprint('slice')}|{held_out}", self.slice_step)
        results["train"] = self.train_steps(results["slice"])
        fp = self.config.fingerprint("slice", "train", "better_data", "measure") + self.adapter_fp(TUNED, BETTER)
        results["learned"] = self.step("learned", fp, lambda: self.learned_step(results["slice"]))
        results["kept"] = self.step("kept", fp, self.kept_step)
        if self.config.iac_eval.enabled:
            fp_task = fp + self.config.fingerprint("iac_eval")
            results["task"] = self.step("task", fp_task, self.task_step)
        report = write_report(self.report_dir, self.config, results, self.settings)
        return ExperimentResult(self.report_dir, report, self.ran, self.skipped)

    def slice_step(self) -> dict:
        out = self.report_dir / "data" / "slice"
        shutil.rmtree(out, ignore_errors=True)
        self.progress("slice", 0, 1)
        built = build_corpus(None, out_dir=out, seq_len=self.config.slice.seq_len, model_id=self.config.model,
                             services=self.config.slice.services or None,
                             path_pattern=self.config.slice.path_pattern or None, settings=self.settings)
        rows, _ = load_rows(out)
        train_cfg = self.config.train_config(out, "<out>")
        trained_rows, held_rows = split_by_page(rows, train_cfg.eval_fraction)
        held = {r["path"] for r in held_rows}
        texts: dict[str, list[str]] = {}
        for row in rows:
            texts.setdefault(row["path"], []).append(row["text"])
        raw = {d.path: d for d in iter_docs([Path(p) for p in built.stats.get("inputs") or []]
                                            or [self.settings.corpus_dir]) if d.path in texts}
        pages = []
        for path in sorted(texts):
            type_name = _type_from_path(path) if "/r/" in path else None
            pages.append({"path": path, "held_out": path in held, "type": type_name,
                          "description": page_description(raw[path]) if path in raw else "",
                          "text": "\n\n".join(texts[path])})
        if not pages:
            raise DataError("The slice has no pages: check [slice] services/path_pattern.")
        self.progress("slice", 1, 1)
        return {"dataset": str(out), "stats": {k: built.stats[k] for k in ("rows", "tokens", "docs") if k in built.stats},
                "pages": pages, "trained_pages": len(pages) - len(held), "held_out_pages": len(held)}

    def train_steps(self, slice_result: dict) -> dict:
        out: dict[str, dict] = {}
        variants = [(TUNED, "plain", False)] + ([(BETTER, "better-data", True)] if self.config.better_data.enabled else [])
        for label, folder, better in variants:
            run_dir = self.report_dir / "runs" / folder
            config = self.config.train_config(slice_result["dataset"], run_dir, better=better)
            fp = self.config.fingerprint("slice", "train") + (self.config.fingerprint("better_data") if better else "")

            def work(config=config, run_dir=run_dir, fp=fp, label=label) -> dict:
                marker = run_dir / FINGERPRINT_FILE
                if run_dir.exists() and (not marker.is_file() or marker.read_text() != fp):
                    shutil.rmtree(run_dir)  # trained with other settings: start over
                run_dir.mkdir(parents=True, exist_ok=True)
                marker.write_text(fp)
                adapter = train_run(config, self.settings,
                                    lambda step, total: self.progress(f"train {label}", step, total))
                status = read_status_file(run_dir)
                return {"adapter": str(adapter), "run_dir": str(run_dir), "command": config.command_line(),
                        "status": {k: status.get(k) for k in ("status", "step", "total_steps", "elapsed_s", "data",
                                                              "tokens_per_s", "device")},
                        "metrics": read_metrics(run_dir)}

            result = self.step(f"train-{folder}", fp, work)
            if not Path(result["adapter"], "adapter_config.json").is_file():  # folder deleted since: retrain
                self.steps.path(f"train-{folder}").unlink(missing_ok=True)
                result = self.step(f"train-{folder}", fp, work)
            self.adapters[label] = result["adapter"]
            out[label] = result
        return out

    def learned_step(self, slice_result: dict) -> dict:
        m = self.config.measure
        session = self.session()
        names = {BASE: None, **{s: session.attach_adapter(self.adapters[s]) for s in self.model_systems() if s != BASE}}
        pages = slice_result["pages"]
        held, trained = [p for p in pages if p["held_out"]], [p for p in pages if not p["held_out"]]
        n_held = min(len(held), max(1, m.max_pages // 2))
        scored = held[:n_held] + trained[:m.max_pages - n_held]
        ppl: dict[str, dict] = {}
        done, total = 0, len(scored) * len(names)
        for system, name in names.items():
            per_page = {}
            for page in scored:
                per_page[page["path"]] = perplexity(session, page["text"], name, max_tokens=m.perplexity_tokens)
                done += 1
                self.progress("perplexity", done, total)
            ppl[system] = {"trained": M.geometric_mean(v for p, v in per_page.items()
                                                       if not _page(pages, p)["held_out"]),
                           "held_out": M.geometric_mean(v for p, v in per_page.items() if _page(pages, p)["held_out"]),
                           "pages": {p: round(v, 4) for p, v in per_page.items()}}
        types = [p for p in sorted(pages, key=lambda p: p["held_out"]) if p["type"]][:m.max_types]
        schema = self.schema()
        # Docs-style probe: the page's own opening, the model continues the Example Usage block.
        probe_texts = [f"# Resource: {p['type']}\n\n{p['description']}\n\n## Example Usage\n\n{PROBE_FENCE}"
                       for p in types]
        requests = [Request(self.adapters.get(s), raw=t) for s in names for t in probe_texts]
        continuations = self.generate("docs probes", requests) if requests else []
        probes: dict[str, dict] = {}
        for i, system in enumerate(names):
            chunk = continuations[i * len(types):(i + 1) * len(types)]
            scores = [M.score_type_answer(M.probe_code(PROBE_FENCE, c), p["type"], schema)
                      for c, p in zip(chunk, types)]
            probes[system] = {**M.type_rates(scores), "answers": [
                {"type": p["type"], "continuation": c, **s.to_dict()} for p, c, s in zip(types, chunk, scores)]}
        # Chat request: the page's description, the type not named: does the model know which to use?
        chat_prompts = [f"Write Terraform HCL for this: {p['description'] or p['type']}" for p in types]
        systems = self.model_systems() + [BASE_RAG, TUNED_RAG, BASE_REPAIR, TUNED_REPAIR]
        chat = self.chat_answers("type requests", chat_prompts, systems) if types else {}
        requests_out: dict[str, dict] = {}
        for system in systems:
            answers = chat.get(system, [])
            scores = [M.score_type_answer(M.answer_code(a), p["type"], schema) for a, p in zip(answers, types)]
            requests_out[system] = {**M.type_rates(scores), "answers": [
                {"type": p["type"], "prompt": q, "answer": a, **s.to_dict()}
                for p, q, a, s in zip(types, chat_prompts, answers, scores)]}
            if f"{system}:rounds" in chat:
                requests_out[system]["repair_rounds"] = chat[f"{system}:rounds"]
        return {"perplexity": ppl, "types": [p["type"] for p in types], "docs_probe": probes,
                "chat_request": requests_out}

    def kept_step(self) -> dict:
        m = self.config.measure
        schema = self.schema()
        systems = self.model_systems() + [BASE_RAG, TUNED_RAG, BASE_REPAIR, TUNED_REPAIR]
        chat = self.chat_answers("chat requests", list(m.chat_requests), systems)
        general = self.chat_answers("general questions", list(m.general_prompts), self.model_systems(),
                                    system_prompt=GENERAL_SYSTEM_PROMPT)
        out: dict[str, dict] = {}
        for system in systems:
            entry = {**M.code_rates(chat[system], schema), "drift": M.drift(chat[system]),
                     "chat_answers": [{"prompt": p, "answer": a} for p, a in zip(m.chat_requests, chat[system])]}
            if system in general:
                entry["prose_rate"] = M.prose_rate(general[system])
                entry["general_drift"] = M.drift(general[system])
                entry["general_answers"] = [{"prompt": p, "answer": a} for p, a in zip(m.general_prompts, general[system])]
            if f"{system}:rounds" in chat:
                entry["repair_rounds"] = chat[f"{system}:rounds"]
            out[system] = entry
        # Forgetting: how surprising the base model's own general answers are to each system.
        session = self.session()
        names = {BASE: None, **{s: session.attach_adapter(self.adapters[s]) for s in self.model_systems() if s != BASE}}
        texts = [t for t in general[BASE] if t.strip() and len(session.tokenizer(t)["input_ids"]) >= 2]
        done, total = 0, len(texts) * len(names)
        self.progress("forgetting", done, total)
        ppl: dict[str, float | None] = {}
        for system, name in names.items():
            values = []
            for text in texts:
                values.append(perplexity(session, text, name, max_tokens=m.perplexity_tokens))
                done += 1
                self.progress("forgetting", done, total)
            ppl[system] = M.geometric_mean(values)
        for system in names:
            out[system]["general_ppl_of_base_answers"] = ppl[system]
            out[system]["forgetting_ratio"] = (round(ppl[system] / ppl[BASE], 4) if ppl[system] and ppl[BASE] else None)
        return out

    def task_step(self) -> dict:
        ie = self.config.iac_eval
        tasks = select_tasks(load_tasks(settings=self.settings), ie.difficulty or None, ie.limit)
        if not tasks:
            raise DataError(f"No IaC-Eval task matches difficulty {ie.difficulty}.")
        mode = resolve_mode(ie.mode, self.settings)
        schema = self.schema()
        systems = [System.make(None, False, BASE), System.make(self.adapters[TUNED], False, TUNED)]
        if BETTER in self.adapters:
            systems.append(System.make(self.adapters[BETTER], False, BETTER))
        systems += [System.make(None, True, BASE_RAG), System.make(self.adapters[TUNED], True, TUNED_RAG)]
        gen = eval_gen_settings(1, ie.max_new_tokens, settings=self.settings)
        comparison = evaluate_systems(
            tasks, systems, model_id=self.config.model, session_provider=self.session, gen=gen,
            settings=self.settings, schema=schema, mode=mode, cache=self.answers,
            batch_rows=self.config.measure.batch_rows, retrieval_k=self.config.measure.retrieval_k,
            progress=lambda fraction, message: self.progress("IaC-Eval", int(fraction * 1000), 1000))
        reports = {label: _headline(r) for label, r in comparison.reports.items()}
        per_task = {label: [t["answers"][label][0] for t in comparison.tasks] for label in comparison.reports}
        repair_answers: dict[str, list] = {}
        for source, label in ((BASE, BASE_REPAIR), (TUNED, TUNED_REPAIR)):
            repaired = repair_tasks(
                tasks, [s.get("answer", "") for s in per_task[source]], model_id=self.config.model,
                adapter=self.adapters.get(source), session_provider=self.session, gen=gen,
                rounds=self.config.measure.repair_rounds, schema=schema, mode=mode, cache=self.answers,
                batch_rows=self.config.measure.batch_rows, settings=self.settings,
                progress=lambda done, total, label=label: self.progress(f"IaC-Eval {label}", done, total))
            reports[label] = {**repaired["final"], "mode": mode, "tasks": len(tasks),
                              "by_round": repaired["by_round"], "repaired_tasks": repaired["repaired_tasks"]}
            repair_answers[label] = repaired["answers"]
        return {"mode": mode, "tasks": [t.id for t in tasks], "difficulty": ie.difficulty, "limit": ie.limit,
                "systems": reports,
                "answers": {label: [{"task_id": t["id"], "answer": s.get("answer", ""), "plannable": s["plannable"],
                                     "passed": s["passed"]} for t, s in zip(comparison.tasks, per_task[label])]
                            for label in per_task},
                "repair_answers": repair_answers}


_HEADLINE_KEYS = ("mode", "tasks", "pass_at_1", "plannable_rate", "code_block_rate", "parse_rate",
                  "hallucinated_type_rate", "unknown_argument_rate", "failure_causes")


def _headline(report: dict) -> dict:
    return {k: report[k] for k in _HEADLINE_KEYS if k in report}


def _page(pages: list[dict], path: str) -> dict:
    return next(p for p in pages if p["path"] == path)


def run_experiment(config: ExperimentConfig, settings: Settings | None = None, progress: Progress | None = None,
                   log: Log | None = None) -> ExperimentResult:
    """Run (or continue) the experiment; the report folder holds report.md, report.json and plots."""
    return Experiment(config, settings, progress, log).run()
