"""Parameters of ``ml.generate``, importable without torch: the web process validates them before queueing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class GenerationParams:
    """How candidates are sampled. Validated in the web process (``problems``) before a job is queued."""

    num_samples: int = 2  # candidates per prompt per model
    max_new_tokens: int = 64
    temperature: float = 0.8  # 0 means greedy decoding (then every sample is the same: use 1 sample)
    top_p: float = 0.95
    max_prompt_tokens: int = 512  # longer prompts keep their end: the model answers the last turn
    batch_size: int = 8  # prompts per generate call
    seed: int = 0
    device: str = "auto"

    def problems(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if not 1 <= self.num_samples <= 16:
            found.append(("num_samples", "must be between 1 and 16"))
        if not 1 <= self.max_new_tokens <= 4096:
            found.append(("max_new_tokens", "must be between 1 and 4096"))
        if not 0.0 <= self.temperature <= 5.0:
            found.append(("temperature", "must be between 0 and 5"))
        if not 0.0 < self.top_p <= 1.0:
            found.append(("top_p", "must be in (0, 1]"))
        if not 1 <= self.max_prompt_tokens <= 32768:
            found.append(("max_prompt_tokens", "must be between 1 and 32768"))
        if not 1 <= self.batch_size <= 256:
            found.append(("batch_size", "must be between 1 and 256"))
        if self.device not in ("auto", "cpu", "cuda"):
            found.append(("device", "must be auto, cpu or cuda"))
        if self.temperature == 0.0 and self.num_samples > 1:
            found.append(("num_samples", "greedy decoding (temperature 0) gives one distinct sample; ask for 1"))
        return found

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> GenerationParams:
        """Known keys only; a wrong type raises ValueError naming the field."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown generation parameter(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            kind = known[name].type
            try:
                if kind in ("int", int):
                    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                        raise TypeError
                    values[name] = int(value)
                elif kind in ("float", float):
                    if isinstance(value, bool):
                        raise TypeError
                    values[name] = float(value)
                else:
                    values[name] = str(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name}: expected a {kind}, got {value!r}") from exc
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
