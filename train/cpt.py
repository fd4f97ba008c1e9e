"""LoRA continued pre-training (CPT) of a causal LM on a docs corpus — one plain loop, top to bottom.

    python -m train.cpt --model smollm2-135m-instruct --dataset cache/datasets/quick-demo-dynamodb \
        --out runs/demo --max-steps 55 --seq-len 256 --lr 3e-4
    torchrun --nproc_per_node 2 -m train.cpt ...    # DDP: every rank trains on its own shard
    accelerate launch -m train.cpt ...              # same, through accelerate's launcher

`--help` lists every flag (they are generated from `iacdemo.training.config.TrainConfig`).

What happens, in order:
 1. parse the config; set up the run folder (only rank 0 writes files) and SIGTERM/SIGINT handling;
 2. load the base model and tokenizer; build training/eval blocks (packed, plus the chat-mix guard);
 3. wrap the model with LoRA (peft), optionally with trainable embeddings at their own learning rate;
 4. AdamW + warmup/decay schedule; on --resume, restore adapter, optimizer, scheduler, RNG and step;
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
from pathlib import Path

import torch

from iacdemo.errors import ConfigError, IacdemoError
from iacdemo.settings import get_settings
from iacdemo.training import runs
from iacdemo.training.config import TrainConfig
from iacdemo.training.data import BatchOrder, batch_at, build_training_data, total_steps
from iacdemo.training.packing import IGNORE, collate
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
    from peft import LoraConfig, get_peft_model

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


def load_checkpoint(ckpt: Path, model, optimizer, scheduler, total: int, log: logging.Logger) -> dict:
    """Restore adapter, optimizer, RNG and schedule; returns the checkpoint's state (step, tokens, time)."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = json.loads((ckpt / "state.json").read_text())
    set_peft_model_state_dict(model, load_file(str(ckpt / "adapter" / "adapter_model.safetensors")))
    optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=False))
    if state.get("total_steps") == total:
        scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=False))
    else:  # more (or fewer) steps than planned: replay the new schedule up to the current step
        log.info("Schedule re-planned for %d steps (was %s)", total, state.get("total_steps"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(state["step"]):
                scheduler.step()
    rng = torch.load(ckpt / "rng.pt", weights_only=False)
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
def train(config: TrainConfig, accelerator, run_dir: Path, log: logging.Logger) -> str:
    """Run the training; returns the final status ("finished" or "stopped")."""
    from accelerate.utils import set_seed
    from transformers import get_scheduler
    from transformers.utils import logging as hf_logging

    from iacdemo.models import load_model, load_tokenizer, resolve_model_path

    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")  # transformers 5 noise
    if config.cpu_threads > 0:
        torch.set_num_threads(config.cpu_threads)
    settings = get_settings()
    is_main = accelerator.is_main_process
    world, rank = accelerator.num_processes, accelerator.process_index
    if is_main:
        (run_dir / runs.CONFIG_FILE).write_text(config.to_json())
        previous = runs.read_status_file(run_dir)
        runs.write_status(run_dir, status="running", error=None, pid=os.getpid(), world_size=world,
                          model=config.model, dataset=config.dataset, run_name=run_dir.name,
                          created=previous.get("created") or time.time(), started=time.time(), finished=None)
    set_seed(config.seed)

    # 2. Tokenizer and data first (a bad dataset fails in seconds), then the model. Rank 0 resolves the
    #    model first, so converting an embedded GGUF happens once.
    with accelerator.main_process_first():
        model_path = resolve_model_path(config.model, settings)
    tokenizer = load_tokenizer(model_path, settings)
    data = build_training_data(config, tokenizer, settings, log=log.warning)
    log.info("Data: %s", json.dumps(data.stats))
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
    step, tokens_seen, elapsed_before = 0, 0, 0.0
    if config.resume:
        ckpt = runs.latest_checkpoint(run_dir)
        state = load_checkpoint(ckpt, model, optimizer, scheduler, steps, log)
        step, tokens_seen, elapsed_before = state["step"], state["tokens"], state["elapsed_s"]
        log.info("Resumed from %s at step %d", ckpt.name, step)
    model = accelerator.prepare(model)  # DDP wrapper when there are several ranks
    unwrapped = accelerator.unwrap_model(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if is_main:
        runs.write_status(run_dir, total_steps=steps, step=step, device=str(accelerator.device),
                          dtype=str(loaded.dtype).replace("torch.", ""), trainable_params=n_trainable,
                          data=data.stats, warmup_steps=warmup)
    log.info("Training %d steps (%d micro-batches of %d x %d per step and rank, %d warmup)",
             steps, config.grad_accum, config.batch_size, config.seq_len, warmup)

    def checkpoint_state() -> dict:
        return {"step": step, "tokens": tokens_seen, "elapsed_s": elapsed(), "total_steps": steps}

    started = time.perf_counter()

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - started

    if data.eval_blocks and step == 0:
        eval_loss = evaluate(unwrapped, data.eval_blocks, config, accelerator, pad_id, loaded.dtype)
        if is_main and eval_loss is not None:
            runs.append_metrics(run_dir, {"step": 0, "eval_loss": eval_loss, "elapsed_s": round(elapsed(), 2)})
            log_metrics_row(run_dir, {"step": 0, "eval_loss": eval_loss})
            log.info("step 0 eval_loss %.4f", eval_loss)

    # 5. The loop.
    model.train()
    window_loss, window_tokens, window_steps, window_start = 0.0, 0, 0, time.perf_counter()
    last_checkpoint = step if config.resume else -1
    stopped = False
    while step < steps:
        stop = torch.tensor(float(STOP_REQUESTED), device=accelerator.device)
        if world > 1:  # all ranks must stop at the same step, or DDP waits forever
            stop = accelerator.reduce(stop, "max")
        if stop.item() > 0:
            stopped = True
            break
        step_loss = torch.zeros((), device=accelerator.device)
        for micro in range(config.grad_accum):
            batch = batch_at(data.train_blocks, order, step * config.grad_accum + micro, config.seq_len, pad_id)
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            last_micro = micro == config.grad_accum - 1
            sync = contextlib.nullcontext() if last_micro else accelerator.no_sync(model)
            with sync, autocast(accelerator, loaded.dtype):
                loss = model(**batch).loss / config.grad_accum
            accelerator.backward(loss)
            step_loss += loss.detach().float()
            window_tokens += int(batch["attention_mask"].sum())
        max_norm = config.max_grad_norm if config.max_grad_norm > 0 else float("inf")
        grad_norm = accelerator.clip_grad_norm_(trainable, max_norm)
        lr = scheduler.get_last_lr()[0]  # the rate this step used
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        window_loss += step_loss.item()
        window_steps += 1

        # Logging (the first step always, so even short runs plot), eval, checkpoint.
        if step == 1 or step % config.log_every == 0 or step == steps:
            stats = torch.tensor([window_loss / window_steps, float(window_tokens)], device=accelerator.device)
            loss_mean = accelerator.reduce(stats[:1], "mean").item()
            tokens = int(accelerator.reduce(stats[1:], "sum").item())
            tokens_seen += tokens
            seconds = time.perf_counter() - window_start
            row = {"step": step, "loss": round(loss_mean, 5), "lr": lr,
                   "grad_norm": round(float(grad_norm), 5), "tokens_per_s": round(tokens / max(seconds, 1e-9), 1),
                   "tokens": tokens_seen, "epoch": round(order.epoch_at(step * config.grad_accum), 4),
                   "elapsed_s": round(elapsed(), 2)}
            if accelerator.device.type == "cuda":  # peak since the start: what a bigger batch would have to fit in
                row["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated(accelerator.device) / 2**30, 2)
            if data.eval_blocks and ((config.eval_every and step % config.eval_every == 0) or step == steps):
                row["eval_loss"] = evaluate(unwrapped, data.eval_blocks, config, accelerator, pad_id, loaded.dtype)
            if is_main:
                runs.append_metrics(run_dir, row)
                log_metrics_row(run_dir, row)
                runs.write_status(run_dir, step=step, last_loss=row["loss"], elapsed_s=row["elapsed_s"],
                                  tokens_per_s=row["tokens_per_s"])
                log.info("step %d/%d loss %.4f lr %.2e grad_norm %.3f tok/s %.0f%s", step, steps, row["loss"],
                         row["lr"], row["grad_norm"], row["tokens_per_s"],
                         f" eval_loss {row['eval_loss']:.4f}" if row.get("eval_loss") is not None else "")
            window_loss, window_tokens, window_steps, window_start = 0.0, 0, 0, time.perf_counter()
        if config.save_every and step % config.save_every == 0 and step < steps and is_main:
            save_checkpoint(run_dir, unwrapped, optimizer, scheduler, checkpoint_state(), config, model_path)
            last_checkpoint = step
            log.info("Checkpoint saved at step %d", step)

    # 6. Save: a checkpoint to resume from (unless one exists for this step) and the adapter.
    if is_main:
        if last_checkpoint != step:
            save_checkpoint(run_dir, unwrapped, optimizer, scheduler, checkpoint_state(), config, model_path)
        save_adapter(unwrapped, run_dir / runs.ADAPTER_DIR, config, model_path, step)
        final = "stopped" if stopped else "finished"
        runs.write_status(run_dir, status=final, step=step, finished=time.time(), elapsed_s=round(elapsed(), 2),
                          adapter=str(run_dir / runs.ADAPTER_DIR))
        log.info("%s at step %d/%d; adapter in %s", final.capitalize(), step, steps, run_dir / runs.ADAPTER_DIR)
    accelerator.wait_for_everyone()
    return "stopped" if stopped else "finished"


def main(argv: list[str] | None = None) -> int:
    from accelerate import Accelerator

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
