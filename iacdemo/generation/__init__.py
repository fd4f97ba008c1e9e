"""Generation for the Compare and Doc-completion tabs: one shared model, adapters, side-by-side streams."""
from iacdemo.generation.callouts import CALLOUT_CSS, callout_kind, count_callouts, highlight_callouts
from iacdemo.generation.gen_settings import GenSettings
from iacdemo.generation.perplexity import perplexity, perplexity_compare
from iacdemo.generation.presets import ChatPreset, DocPreset, Presets, load_presets
from iacdemo.generation.prompts import (PreparedPrompt, build_messages, content_text, normalise_messages,
                                        prepare_chat_prompt, prepare_raw_prompt)
from iacdemo.generation.session import BASE, AdapterInfo, ModelSession, adapter_name_for
from iacdemo.generation.side_by_side import (Column, SideBySideStream, StreamStats, default_columns,
                                             generate_side_by_side, stream_sequential, stream_side_by_side)
from iacdemo.generation.streamer import BatchTextStreamer, StopOnEvent

__all__ = [
    "BASE", "CALLOUT_CSS", "AdapterInfo", "BatchTextStreamer", "ChatPreset", "Column", "DocPreset", "GenSettings",
    "ModelSession", "PreparedPrompt", "Presets", "SideBySideStream", "StopOnEvent", "StreamStats",
    "adapter_name_for", "build_messages", "callout_kind", "content_text", "count_callouts", "default_columns",
    "generate_side_by_side", "highlight_callouts", "load_presets", "normalise_messages", "perplexity",
    "perplexity_compare", "prepare_chat_prompt", "prepare_raw_prompt", "stream_sequential", "stream_side_by_side",
]
