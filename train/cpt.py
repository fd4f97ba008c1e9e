"""LoRA continued pre-training (CPT) of a causal LM on a docs corpus — one plain loop, top to bottom.

    python -m train.cpt --model smollm2-135m-instruct --dataset cache/datasets/quick-demo-dynamodb \
        --out runs/demo --max-steps 55 --seq-len 256 --lr 3e-4
    torchrun --nproc_per_node 2 -m train.cpt ...    # DDP: every rank trains on its own shard
    accelerate launch -m train.cpt ...              # same, through accelerate's launcher

`--help` lists every flag (they are generated from `iacdemo.training.config.TrainConfig`).

What happens, in order (`setup` does 1-4, `train_loop` 5, `save_final` 6; `train` calls the three):
 1. parse the config; set up the run folder (only rank 0 writes files) and SIGTERM/SIGINT handling;
 2. load the base model and tokenizer; build training/eval blocks (packed, plus the chat-mix guard);
 3. wrap the model with LoRA (peft), optionally with trainable embeddings at their own learning rate;
 4. AdamW + warmup/decay schedule; on --resume, restore adapter, optimizer, scheduler, RNG and step
    (checkpoint files are loaded with `weights_only=True`: tensors and plain values, never code);
 5. the loop: gradient accumulation -> clip -> step; log metrics, evaluate, checkpoint;
 6. on finish or stop: save the adapter (peft format) and the final status.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from iacdemo.errors import ConfigError, DataError, IacdemoError
from iacdemo.models import load_model, load_tokenizer, resolve_model_path
from iacdemo.safe_json import as_float, as_int, read_json_or
from iacdemo.settings import get_settings
from iacdemo.training import runs
from iacdemo.training.config import TrainConfig
from iacdemo.training.cpu_share import TrainerCpuShare
from iacdemo.training.data import BatchOrder, batch_at, build_training_data, total_steps
from iacdemo.training.packing import IGNORE, collate
from iacdemo.training.page_split import write_page_split
from iacdemo.training.tensorboard_log import log_metrics_row

STOP_REQUESTED = False


def request_stop(signum, frame) -> None:
    """SIGTERM/SIGINT: finish the current optimizer step, then save and exit as `stopped`."""
    global STOP_REQUESTED
    STOP_REQUESTED = True
    logging.getLogger("cpt").warning("Stop requested (signal %s): saving after this step.", signum)


def setup_logging(run_dir: Path, is_main: bool, rank: int) -> logging.Logger:
    log = logging.getLogger("cpt")
    log.handlers.clear()
    log.setLevel(logging.INFO if is_main else logging.WARNING)
    log.propagate = False
    fmt = logging.Formatter(f"%(asctime)s [rank {rank}] %(levelname)s %(message)s", "%H:%M:%S")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    log.addHandler(stream)
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        file = logging.FileHandler(run_dir / runs.LOG_FILE, encoding="utf-8")
        file.setFormatter(fmt)
        log.addHandler(file)
    return log


# --- model ------------------------------------------------------------------------------------------------
def embedding_modules(model) -> tuple[list[str], bool]:
    """Names (last path part) of the input/output embeddings to train fully, and whether they are tied.

    For tied models (SmolLM2) only the input embedding is listed and peft's `ensure_weight_tying`
    makes lm_head use the same trained copy, so the saved adapter and the merged model stay tied.
    """
    emb_in, emb_out = model.get_input_embeddings(), model.get_output_embeddings()
    names = {module: name.split(".")[-1] for name, module in model.named_modules()}
    tied = emb_out is not None and emb_out.weight is emb_in.weight
    wanted = [names[emb_in]] + ([] if tied or emb_out is None else [names[emb_out]])
    return wanted, tied


def add_lora(model, config: TrainConfig):
    """Wrap `model` with LoRA adapters. Note: peft modifies `model` in place (never save it afterwards)."""
    from peft import LoraConfig, get_peft_model  # heavy: a bad config fails before it loads

    targets = config.target_module_list()
    modules_to_save, tied = (embedding_modules(model) if config.train_embeddings else (None, False))
    lora_config = LoraConfig(
        task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules="all-linear" if targets == ["all-linear"] else targets, use_rslora=config.use_rslora,
        modules_to_save=modules_to_save, ensure_weight_tying=tied)
    try:
        return get_peft_model(model, lora_config)
    except ValueError as exc:
        linear = sorted({n.split(".")[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
        raise ConfigError(f"LoRA target modules {targets} do not fit this model ({exc}). "
                          f"Its linear layers are named: {', '.join(linear)}.") from exc


def make_optimizer(model, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with two groups: LoRA weights at `lr`, full embedding copies at the smaller `embed_lr`."""
    lora, embed = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (embed if "modules_to_save" in name else lora).append(param)
    groups = [{"params": lora, "lr": config.lr}]
    if embed:
        groups.append({"params": embed, "lr": config.embed_lr})
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


@torch.no_grad()
def evaluate(model, blocks, config: TrainConfig, accelerator, pad_id: int, dtype: torch.dtype) -> float | None:
    """Token-weighted mean loss on this rank's share of the eval blocks, averaged over all ranks."""
    rank, world = accelerator.process_index, accelerator.num_processes
    per_rank = math.ceil(config.eval_max_batches / world) * config.batch_size
    shard = blocks[rank::world][:per_rank]
    totals = torch.zeros(2, device=accelerator.device)
    model.eval()
    for i in range(0, len(shard), config.batch_size):
        batch = collate(shard[i:i + config.batch_size], config.seq_len, pad_id)
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        with autocast(accelerator, dtype):
            loss = model(**batch).loss
        n = (batch["labels"][:, 1:] != IGNORE).sum()
        totals += torch.stack([loss.float() * n, n.float()])
    model.train()
    totals = accelerator.reduce(totals, "sum")
    return (totals[0] / totals[1]).item() if totals[1] > 0 else None


def autocast(accelerator, dtype: torch.dtype):
    """bf16 autocast when the frozen weights are bf16 (trainable ones stay fp32); plain fp32 otherwise."""
    if dtype == torch.bfloat16:
        return torch.autocast(accelerator.device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --- checkpoints ------------------------------------------------------------------------------------------
def save_adapter(model, out_dir: Path, config: TrainConfig, model_path: str, step: int) -> None:
    """Standard peft folder (PeftModel.from_pretrained loads it) plus which base model it belongs to."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    meta = {"base_model": config.model, "base_model_path": model_path, "step": step,
            "run": out_dir.parent.name, "seq_len": config.seq_len, "saved": time.time()}
    (tmp / runs.ADAPTER_META).write_text(json.dumps(meta, indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


def save_checkpoint(run_dir: Path, model, optimizer, scheduler, state: dict, config: TrainConfig,
                    model_path: str) -> Path:
    """checkpoints/step-N/: adapter, optimizer, scheduler, RNG and state.json (written last = complete)."""
    final = run_dir / runs.CHECKPOINTS_DIR / f"step-{state['step']}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_adapter(model, tmp / "adapter", config, model_path, state["step"])
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    rng = {"torch": torch.get_rng_state(), "python": random.getstate(),
           "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    torch.save(rng, tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps(state, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in runs.checkpoints(run_dir)[:-config.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_plain(path: Path) -> Any:
    """A checkpoint file that may hold only tensors and plain values (`weights_only=True`).

    Anything else in it (a pickled object with a `__reduce__`, i.e. code) is refused, never run: a run
    folder can come from anywhere, and --resume must not be a way to execute it.
    """
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # UnpicklingError for foreign objects, RuntimeError/EOFError for damaged files
        first_line = (str(exc).splitlines() or [""])[0][:200]
        raise DataError(f"Cannot resume from {path}: it holds something other than tensors and plain values, "
                        f"or is damaged ({type(exc).__name__}: {first_line}). Nothing in it was run. Delete "
                        "that checkpoint or start a new run.") from None


def read_checkpoint_state(ckpt: Path) -> dict:
    """state.json of a checkpoint, checked: whole non-negative step/tokens, a finite elapsed time."""
    state, problem = read_json_or(ckpt / "state.json", None)
    if problem:
        raise DataError(f"Cannot resume from {ckpt}: {problem}.")
    step, tokens = as_int(state.get("step")), as_int(state.get("tokens"), 0)
    elapsed = as_float(state.get("elapsed_s"), 0.0)
    if step is None:
        raise DataError(f"Cannot resume from {ckpt}: its state.json has no whole step number.")
    return {"step": step, "tokens": tokens or 0, "elapsed_s": elapsed or 0.0,
            "total_steps": as_int(state.get("total_steps"))}


def load_checkpoint(ckpt: Path, model, optimizer, scheduler, total: int, log: logging.Logger) -> dict:
    """Restore adapter, optimizer, RNG and schedule; returns the checkpoint's state (step, tokens, time)."""
    from peft.utils import set_peft_model_state_dict  # heavy: a bad config fails before it loads
    from safetensors.torch import load_file

    state = read_checkpoint_state(ckpt)
    optimizer_state, scheduler_state, rng = (load_plain(ckpt / name)  # all checked before any is applied
                                             for name in ("optimizer.pt", "scheduler.pt", "rng.pt"))
    set_peft_model_state_dict(model, load_file(str(ckpt / "adapter" / "adapter_model.safetensors")))
    optimizer.load_state_dict(optimizer_state)
    if state.get("total_steps") == total:
        scheduler.load_state_dict(scheduler_state)
    else:  # more (or fewer) steps than planned: replay the new schedule up to the current step
        log.info("Schedule re-planned for %d steps (was %s)", total, state.get("total_steps"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(state["step"]):
                scheduler.step()
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    if rng.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return state


def prepare_run_dir(run_dir: Path, config: TrainConfig) -> None:
    """A fresh run needs an empty folder (or one the job runner just queued); --resume needs a checkpoint."""
    if config.resume:
        if runs.latest_checkpoint(run_dir) is None:
            raise ConfigError(f"--resume: no checkpoint in {run_dir} to continue from.")
        return
    used = [n for n in (runs.METRICS_FILE, runs.ADAPTER_DIR, runs.CHECKPOINTS_DIR) if (run_dir / n).exists()]
    if used:
        raise ConfigError(f"{run_dir} already holds a run ({', '.join(used)}): pick another run name or "
                          "use --resume.")


# --- main -------------------------------------------------------------------------------------------------
@dataclass
class Job:
    """Everything the loop needs, built once by `setup` (as torchtune's recipes split setup/train/save)."""

    config: TrainConfig
    accelerator: Any
    run_dir: Path
    log: logging.Logger
    status: runs.StatusWriter | None  # rank 0 only: the job's own status.json
    model: Any  # DDP-wrapped when there are several ranks
    unwrapped: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    data: Any
    order: BatchOrder
    steps: int
    dtype: torch.dtype
    pad_id: int
    model_path: str
    cpu: TrainerCpuShare | None = None
    trainable: list = field(default_factory=list)
    step: int = 0
    tokens_seen: int = 0
    elapsed_before: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    last_checkpoint: int = -1

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def checkpoint_state(self) -> dict:
        return {"step": self.step, "tokens": self.tokens_seen, "elapsed_s": self.elapsed(), "total_steps": self.steps}

    def evaluate(self) -> float | None:
        return evaluate(self.unwrapped, self.data.eval_blocks, self.config, self.accelerator, self.pad_id, self.dtype)


def setup(config: TrainConfig, accelerator, run_dir: Path, log: logging.Logger) -> Job:
    """Steps 1-4: status, data, model, LoRA, optimizer and schedule; on --resume, the checkpoint."""
    from accelerate.utils import set_seed  # heavy: a bad config fails before these load
    from transformers import get_scheduler
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")  # transformers 5 noise
    if config.cpu_threads > 0:
        torch.set_num_threads(config.cpu_threads)
    settings = get_settings()
    cpu = TrainerCpuShare(settings.runs_dir, settings.job_niceness, settings.job_yield_threads, log)
    cpu.start()  # before torch starts its worker threads, which inherit the priority
    world, rank = accelerator.num_processes, accelerator.process_index
    status = None
    if accelerator.is_main_process:
        (run_dir / runs.CONFIG_FILE).write_text(config.to_json())
        status = runs.StatusWriter(run_dir)
        status.write(status="running", error=None, pid=os.getpid(), world_size=world, model=config.model,
                     dataset=config.dataset, run_name=run_dir.name,
                     created=status.status.get("created") or time.time(), started=time.time(), finished=None)
    set_seed(config.seed)

    # 2. Tokenizer and data first (a bad dataset fails in seconds), then the model. Rank 0 resolves the
    #    model first, so converting an embedded GGUF happens once.
    with accelerator.main_process_first():
        model_path = resolve_model_path(config.model, settings)
    tokenizer = load_tokenizer(model_path, settings)
    data = build_training_data(config, tokenizer, settings, log=log.warning)
    log.info("Data: %s", json.dumps(data.stats))
    if accelerator.is_main_process:  # which pages are fair (held-out) perplexity tests of this run
        write_page_split(run_dir, data.train_pages, data.eval_pages)
    device = str(accelerator.device) if accelerator.device.type == "cuda" else accelerator.device.type
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}.get(config.precision)  # None = the device's default
    loaded = load_model(config.model, settings, device=device, dtype=dtype)
    model = loaded.model
    log.info("Model %s on %s (%s), %d ranks", config.model, accelerator.device, loaded.dtype, world)

    # 3. LoRA. Checkpointing must be switched on before peft wraps the model.
    model.config.use_cache = False
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = add_lora(model, config)
    for param in model.parameters():  # trainable weights in fp32 even when the base is bf16
        if param.requires_grad:
            param.data = param.data.float()
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_total = sum(p.numel() for p in model.parameters())
    log.info("Trainable parameters: %s of %s (%.2f%%)", f"{n_trainable:,}", f"{n_total:,}",
             100 * n_trainable / n_total)

    # 4. Optimizer, schedule, resume.
    order = BatchOrder(len(data.train_blocks), config.batch_size, world, rank, config.seed)
    steps = total_steps(config, order)
    warmup = config.warmup_steps or int(config.warmup_ratio * steps)
    optimizer = make_optimizer(model, config)
    scheduler = get_scheduler(config.scheduler if config.scheduler != "constant" else "constant_with_warmup",
                              optimizer, num_warmup_steps=warmup, num_training_steps=steps)
    resumed = {}
    if config.resume:
        ckpt = runs.latest_checkpoint(run_dir)
        resumed = load_checkpoint(ckpt, model, optimizer, scheduler, steps, log)
        log.info("Resumed from %s at step %d", ckpt.name, resumed["step"])
    wrapped = accelerator.prepare(model)  # DDP wrapper when there are several ranks
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    job = Job(config=config, accelerator=accelerator, run_dir=run_dir, log=log, status=status, model=wrapped,
              unwrapped=accelerator.unwrap_model(wrapped), optimizer=optimizer, scheduler=scheduler, data=data,
              order=order, steps=steps, dtype=loaded.dtype, pad_id=pad_id, model_path=model_path,
              trainable=[p for p in wrapped.parameters() if p.requires_grad], step=resumed.get("step", 0),
              tokens_seen=resumed.get("tokens", 0), elapsed_before=resumed.get("elapsed_s", 0.0), cpu=cpu)
    job.last_checkpoint = job.step if config.resume else -1
    if status is not None:
        status.write(total_steps=steps, step=job.step, device=str(accelerator.device),
                     dtype=str(loaded.dtype).replace("torch.", ""), trainable_params=n_trainable, data=data.stats,
                     warmup_steps=warmup)
    log.info("Training %d steps (%d micro-batches of %d x %d per step and rank, %d warmup)",
             steps, config.grad_accum, config.batch_size, config.seq_len, warmup)
    return job


def train_step(job: Job) -> tuple[float, int, Any, float]:
    """One optimizer step (gradient accumulation -> clip -> step): (loss, tokens, grad norm, lr used)."""
    config, accelerator, model = job.config, job.accelerator, job.model
    step_loss = torch.zeros((), device=accelerator.device)
    tokens = 0
    for micro in range(config.grad_accum):
        if job.cpu is not None:
            job.cpu.update()  # fewer threads while the app generates
        batch = batch_at(job.data.train_blocks, job.order, job.step * config.grad_accum + micro, config.seq_len,
                         job.pad_id)
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        last_micro = micro == config.grad_accum - 1
        sync = contextlib.nullcontext() if last_micro else accelerator.no_sync(model)
        with sync, autocast(accelerator, job.dtype):
            loss = model(**batch).loss / config.grad_accum
        accelerator.backward(loss)
        step_loss += loss.detach().float()
        tokens += int(batch["attention_mask"].sum())
    max_norm = config.max_grad_norm if config.max_grad_norm > 0 else float("inf")
    grad_norm = accelerator.clip_grad_norm_(job.trainable, max_norm)
    lr = job.scheduler.get_last_lr()[0]  # the rate this step used
    job.optimizer.step()
    job.scheduler.step()
    job.optimizer.zero_grad(set_to_none=True)
    job.step += 1
    return step_loss.item(), tokens, grad_norm, lr


def log_metrics(job: Job, row: dict) -> None:
    """Rank 0 records one metrics row: metrics.jsonl, status.json and the log line."""
    if not job.is_main:
        return
    runs.append_metrics(job.run_dir, row)
    log_metrics_row(job.run_dir, row)
    job.status.write(step=job.step, last_loss=row["loss"], elapsed_s=row["elapsed_s"],
                     tokens_per_s=row["tokens_per_s"])
    job.log.info("step %d/%d loss %.4f lr %.2e grad_norm %.3f tok/s %.0f%s", job.step, job.steps, row["loss"],
                 row["lr"], row["grad_norm"], row["tokens_per_s"],
                 f" eval_loss {row['eval_loss']:.4f}" if row.get("eval_loss") is not None else "")


def stop_requested(job: Job) -> bool:
    """Whether any rank got SIGTERM/SIGINT (all ranks must stop at the same step, or DDP waits forever)."""
    stop = torch.tensor(float(STOP_REQUESTED), device=job.accelerator.device)
    if job.accelerator.num_processes > 1:
        stop = job.accelerator.reduce(stop, "max")
    return stop.item() > 0


def train_loop(job: Job) -> bool:
    """Step 5: train until the last step or a stop request; returns True when stopped early."""
    config, accelerator = job.config, job.accelerator
    if job.data.eval_blocks and job.step == 0:
        eval_loss = job.evaluate()
        if job.is_main and eval_loss is not None:
            runs.append_metrics(job.run_dir, {"step": 0, "eval_loss": eval_loss, "elapsed_s": round(job.elapsed(), 2)})
            log_metrics_row(job.run_dir, {"step": 0, "eval_loss": eval_loss})
            job.log.info("step 0 eval_loss %.4f", eval_loss)
    job.model.train()
    window_loss, window_tokens, window_steps, window_start = 0.0, 0, 0, time.perf_counter()
    while job.step < job.steps:
        if stop_requested(job):
            return True
        loss, tokens, grad_norm, lr = train_step(job)
        window_loss, window_tokens, window_steps = window_loss + loss, window_tokens + tokens, window_steps + 1
        step = job.step

        # Logging (the first step always, so even short runs plot), eval, checkpoint.
        if step == 1 or step % config.log_every == 0 or step == job.steps:
            stats = torch.tensor([window_loss / window_steps, float(window_tokens)], device=accelerator.device)
            loss_mean = accelerator.reduce(stats[:1], "mean").item()
            tokens = int(accelerator.reduce(stats[1:], "sum").item())
            job.tokens_seen += tokens
            seconds = time.perf_counter() - window_start
            row = {"step": step, "loss": round(loss_mean, 5), "lr": lr,
                   "grad_norm": round(float(grad_norm), 5), "tokens_per_s": round(tokens / max(seconds, 1e-9), 1),
                   "tokens": job.tokens_seen, "epoch": round(job.order.epoch_at(step * config.grad_accum), 4),
                   "elapsed_s": round(job.elapsed(), 2)}
            if accelerator.device.type == "cuda":  # peak since the start: what a bigger batch would have to fit in
                row["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated(accelerator.device) / 2**30, 2)
            if job.data.eval_blocks and ((config.eval_every and step % config.eval_every == 0) or step == job.steps):
                row["eval_loss"] = job.evaluate()
            log_metrics(job, row)
            window_loss, window_tokens, window_steps, window_start = 0.0, 0, 0, time.perf_counter()
        if config.save_every and step % config.save_every == 0 and step < job.steps and job.is_main:
            save_checkpoint(job.run_dir, job.unwrapped, job.optimizer, job.scheduler, job.checkpoint_state(),
                            config, job.model_path)
            job.last_checkpoint = step
            job.log.info("Checkpoint saved at step %d", step)
    return False


def save_final(job: Job, stopped: bool) -> str:
    """Step 6: a checkpoint to resume from (unless one exists for this step), the adapter, the final status."""
    final = "stopped" if stopped else "finished"
    if job.is_main:
        if job.last_checkpoint != job.step:
            save_checkpoint(job.run_dir, job.unwrapped, job.optimizer, job.scheduler, job.checkpoint_state(),
                            job.config, job.model_path)
        adapter = job.run_dir / runs.ADAPTER_DIR
        save_adapter(job.unwrapped, adapter, job.config, job.model_path, job.step)
        job.status.write(status=final, step=job.step, finished=time.time(), elapsed_s=round(job.elapsed(), 2),
                         adapter=str(adapter))
        job.log.info("%s at step %d/%d; adapter in %s", final.capitalize(), job.step, job.steps, adapter)
    job.accelerator.wait_for_everyone()
    return final


def train(config: TrainConfig, accelerator, run_dir: Path, log: logging.Logger) -> str:
    """Run the training; returns the final status ("finished" or "stopped")."""
    job = setup(config, accelerator, run_dir, log)
    return save_final(job, stopped=train_loop(job))


def main(argv: list[str] | None = None) -> int:
    from accelerate import Accelerator  # heavy: `--help` and a bad config answer before it loads

    config = TrainConfig.from_cli(argv)
    try:
        run_dir = config.run_dir().resolve()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config.out = str(run_dir)
    device = config.device if config.device != "auto" else (get_settings().device or "auto")
    accelerator = Accelerator(cpu=device == "cpu")
    log = setup_logging(run_dir, accelerator.is_main_process, accelerator.process_index)
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if accelerator.is_main_process:
        try:  # before anything is written: a refused run folder keeps its own status
            prepare_run_dir(run_dir, config)
        except ConfigError as exc:
            log.error("error: %s", exc)
            return 2
    try:
        train(config, accelerator, run_dir, log)
        return 0
    except Exception as exc:  # any failure ends as status "failed" with a message the UI can show
        message = str(exc) if isinstance(exc, IacdemoError) else f"{type(exc).__name__}: {exc}"
        log.error("Failed: %s\n%s", message, traceback.format_exc())
        if accelerator.is_main_process:
            runs.write_status(run_dir, status="failed", error=message, finished=time.time(), pid=os.getpid())
        return 1


if __name__ == "__main__":
    sys.exit(main())
