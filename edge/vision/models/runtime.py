"""onnxruntime sessions: execution providers, threads, and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import onnxruntime as ort

from edge.vision.models.errors import ModelLoadError, ProviderUnavailable


class Provider(StrEnum):
    """The execution providers omo-edge chooses between (onnxruntime's names)."""

    TENSORRT = "TensorrtExecutionProvider"
    CUDA = "CUDAExecutionProvider"
    CPU = "CPUExecutionProvider"


SHORT_NAMES = {"cpu": Provider.CPU, "cuda": Provider.CUDA, "tensorrt": Provider.TENSORRT,
               "trt": Provider.TENSORRT}
AUTO = "auto"


def available() -> list[str]:
    return list(ort.get_available_providers())


def resolve_providers(requested: Sequence[str] | None) -> list[str]:
    """The providers to pass to onnxruntime, best first, CPU always last as the fallback.
    None or [] gives CPU only; "auto" gives TensorRT, CUDA, CPU as far as this build has
    them; names may be short ("cpu", "cuda", "tensorrt") or onnxruntime's. A named provider
    this build lacks raises ProviderUnavailable."""
    have = available()
    if not requested:
        return [Provider.CPU.value]
    chosen: list[str] = []
    for name in requested:
        if name.lower() == AUTO:
            chosen += [p.value for p in Provider if p.value in have]
            continue
        full = SHORT_NAMES[name.lower()].value if name.lower() in SHORT_NAMES else name
        if full not in have:
            raise ProviderUnavailable(
                f"execution provider {name!r} is not in this onnxruntime build (it has "
                f"{', '.join(have)}); on a Jetson install NVIDIA's onnxruntime-gpu wheel")
        chosen.append(full)
    if Provider.CPU.value not in chosen:
        chosen.append(Provider.CPU.value)
    return list(dict.fromkeys(chosen))


def usable_providers(requested: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """Like `resolve_providers`, but never raises: a name onnxruntime does not know, or a
    provider this build lacks, is left out and described in the second list (the caller
    warns); CPU is always there as the fallback. Returns (providers, problems)."""
    have = available()
    known = {p.lower() for p in ort.get_all_providers()}
    chosen: list[str] = []
    problems: list[str] = []
    for name in requested or ():
        low = name.lower()
        if low == AUTO:
            chosen += [p.value for p in Provider if p.value in have]
            continue
        full = SHORT_NAMES[low].value if low in SHORT_NAMES else name
        if low not in SHORT_NAMES and low not in known:
            problems.append(f"unknown execution provider {name!r} (use cpu, cuda, tensorrt, "
                            f"auto or an onnxruntime name such as CUDAExecutionProvider)")
        elif full not in have:
            problems.append(f"execution provider {name!r} is not in this onnxruntime build "
                            f"(it has {', '.join(have)}); on a Jetson install NVIDIA's "
                            "onnxruntime-gpu wheel")
        else:
            chosen.append(full)
    if Provider.CPU.value not in chosen:
        chosen.append(Provider.CPU.value)
    return list(dict.fromkeys(chosen)), problems


def session_options(threads: int = 1) -> ort.SessionOptions:
    """One inference's threads: `threads` intra-op, one inter-op; with 2 or more threads the
    workers do not spin (spinning on a shared 2-core box is slower than one thread)."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads >= 2:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def open_session(model: bytes, *, threads: int = 1, providers: Sequence[str] | None = None,
                 label: str = "model") -> ort.InferenceSession:
    """An InferenceSession over the model's bytes (already checked against the manifest)."""
    chosen = resolve_providers(providers)
    try:
        return ort.InferenceSession(model, sess_options=session_options(threads),
                                    providers=chosen)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise ModelLoadError(f"{label}: onnxruntime cannot load it "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
