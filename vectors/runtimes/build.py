"""Build (once, cached) and open one exported variant: model, engine, precision.

fp32 is exported from the torch model and checked against it; int8 is made from the fp32
export (calibrated on the catalog's photos for a CNN); a precision that changes vectors opens
only with a passing quality-gate verdict for this CPU, from the cache or judged now on the
labelled set given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visearch.vectors.encoders import EncoderError
from visearch.vectors.runtimes import FP32, INT8, Runtime, with_precision
from visearch.vectors.runtimes.encoder import ExportedEncoder
from visearch.vectors.runtimes.export import batched, quantize_dynamic, quantize_static
from visearch.vectors.runtimes.families import STATIC, Family
from visearch.vectors.runtimes.gate import (
    GateRefusedError,
    GateRun,
    LabelledSet,
    Verdict,
    calibration_photos,
)
from visearch.vectors.runtimes.sessions import Session, cpu_has_bf16
from visearch.vectors.runtimes.store import ModelStore, cpu_id, text_digest

MANIFEST, VERDICTS = "manifest.json", "verdicts.json"
CALIBRATION_LIMIT = 256
CALIBRATION_BATCH = 32


@dataclass
class Variant:
    """Everything needed to open one (engine, precision) of a model."""

    family: Family
    store: ModelStore
    runtime: Runtime
    quality: LabelledSet | None = None
    _gate: GateRun | None = None

    @classmethod
    def of(cls, family: Family, runtime: Runtime) -> Variant:
        quality = LabelledSet.read(runtime.quality) if runtime.quality else None
        return cls(family, family.store(runtime.cache), runtime, quality)

    def manifest(self) -> dict[str, Any]:
        """The fp32 export (made now if missing): its dim and its check against torch."""
        found = self.store.read(MANIFEST)
        if found and all(self.store.path(f"fp32-{t}.onnx").is_file() for t in self.family.towers):
            return found
        with self.store.locked():
            found = self.store.read(MANIFEST)
            if not (
                found
                and all(self.store.path(f"fp32-{t}.onnx").is_file() for t in self.family.towers)
            ):
                found = {
                    **self.family.export(self.store),
                    "model": self.family.model,
                    "exported_at": time.time(),
                }
                for name, value in found.items():
                    self.store.update(MANIFEST, name, value)
        return found

    def artifact(self, precision: str, engine: str) -> tuple[str, dict[str, Path]]:
        """(artifact id, tower -> ONNX file) for `precision`; bf16 runs the fp32 files."""
        if precision != INT8:
            return FP32, {t: self.store.path(f"fp32-{t}.onnx") for t in self.family.towers}
        if self.family.int8_recipe != STATIC:
            return self._int8_dynamic()
        if self.runtime.calibration is None:
            return self._calibrated_before(engine)
        return self._int8_static()

    def _int8_dynamic(self) -> tuple[str, dict[str, Path]]:
        paths = {t: self.store.path(f"int8-dynamic-{t}.onnx") for t in self.family.towers}
        with self.store.locked():
            for tower, path in paths.items():
                if not path.is_file():
                    source = self.store.path(f"fp32-{tower}.onnx")
                    self.store.save_atomically(path, lambda tmp, s=source: quantize_dynamic(s, tmp))
        return "int8-dynamic", paths

    def _int8_static(self) -> tuple[str, dict[str, Path]]:
        from visearch.vectors.images import load_image

        exclude = self.quality.photos if self.quality else set()
        photos = calibration_photos(self.runtime.calibration, CALIBRATION_LIMIT, exclude)
        artifact = "int8-static-" + text_digest(*map(_identity, photos))[:12]
        paths = {t: self.store.path(f"{artifact}-{t}.onnx") for t in self.family.towers}
        with self.store.locked():
            for tower, path in paths.items():
                if path.is_file():
                    continue
                self.family.open(self.store)

                def make(chunk: list[Path], tower: str = tower) -> dict[str, Any]:
                    return self.family.feeds(tower, [load_image(str(p)) for p in chunk])

                feeds = batched(photos, CALIBRATION_BATCH, make)
                source = self.store.path(f"fp32-{tower}.onnx")
                self.store.save_atomically(
                    path, lambda tmp, s=source, f=feeds: quantize_static(s, tmp, f)
                )
        return artifact, paths

    def _calibrated_before(self, engine: str) -> tuple[str, dict[str, Path]]:
        """No photos given: the int8 model calibrated last with a passing verdict here."""
        found = []
        for key, verdict in self.store.read(VERDICTS).items():
            eng, precision, artifact, cpu = key.split("/")[:4]
            paths = {t: self.store.path(f"{artifact}-{t}.onnx") for t in self.family.towers}
            if (
                (eng, precision, cpu) == (engine, INT8, cpu_id())
                and verdict["passed"]
                and all(p.is_file() for p in paths.values())
            ):
                found.append((verdict.get("judged_at", 0), artifact, paths))
        if found:
            _, artifact, paths = max(found, key=lambda item: item[0])
            return artifact, paths
        raise EncoderError(
            f"{with_precision(self.family.model, INT8)} on {engine}: int8 is calibrated once on "
            "a few hundred of the catalog's photos; give them (--calibration / "
            "VISEARCH_CALIBRATION: a folder or a catalog CSV) and a labelled set for the "
            "quality gate (--quality-set / VISEARCH_QUALITY_SET)"
        )

    def open(self, engine: str, precision: str, *, batch_size: int = 32, gate: bool = True) -> Any:
        """The encoder for (`engine`, `precision`); with `gate`, refused unless it passes."""
        if engine not in self.family.engines.get(precision, ()):
            runs = [e for e, ps in _by_engine(self.family).items() if precision in ps]
            raise EncoderError(
                f"{self.family.model} at {precision} runs on {', '.join(runs)} only, not {engine}"
            )
        if precision == "bf16" and not cpu_has_bf16():
            raise EncoderError("bf16 needs a CPU with AVX-512 BF16 or AMX; this one has neither")
        manifest = self.manifest()
        artifact, paths = self.artifact(precision, engine)
        encoder = self._encoder(engine, precision, paths, manifest, batch_size, artifact)
        if gate and precision != FP32:
            verdict = self.verdict(engine, precision, artifact, encoder)
            if not verdict.passed:
                raise GateRefusedError(verdict)
        return encoder

    def _encoder(
        self,
        engine: str,
        precision: str,
        paths: dict[str, Path],
        manifest: dict[str, Any],
        batch_size: int,
        artifact: str,
    ) -> ExportedEncoder:
        self.family.open(self.store)
        threads = self.runtime.thread_count
        sessions = {t: Session(p, engine, precision, threads) for t, p in paths.items()}
        name = with_precision(self.family.model, precision)
        return ExportedEncoder(
            name,
            int(manifest["dim"]),
            self.family,
            sessions,
            batch_size=batch_size,
            artifact=artifact,
        )

    def verdict(self, engine: str, precision: str, artifact: str, encoder: Any) -> Verdict:
        """The gate's verdict for this CPU: judged now when a labelled set is given (and not
        judged on it before), else the one cached; none at all is a refusal to guess."""
        prefix = f"{engine}/{precision}/{artifact}/{cpu_id()}/"
        cached = {k: v for k, v in self.store.read(VERDICTS).items() if k.startswith(prefix)}
        if self.quality is None:
            if not cached:
                raise EncoderError(
                    f"{encoder.name} on {engine} changes the vectors and has not passed the "
                    "quality gate on this machine; give a labelled set once (--quality-set / "
                    "VISEARCH_QUALITY_SET, e.g. ../shared/data/grocery)"
                )
            best = max(cached.values(), key=lambda v: (v["passed"], v.get("judged_at", 0)))
            return Verdict.from_dict({k: v for k, v in best.items() if k != "judged_at"})
        key = prefix + self.quality.id
        if key in cached:
            return Verdict.from_dict({k: v for k, v in cached[key].items() if k != "judged_at"})
        verdict = self.gate_run().judge(f"{encoder.name} on {engine}", encoder)
        self.store.update(VERDICTS, key, {**verdict.as_dict(), "judged_at": time.time()})
        return verdict

    def gate_run(self) -> GateRun:
        if self._gate is None:
            assert self.quality is not None
            reference = self.open("onnx", FP32, gate=False)
            self._gate = GateRun(self.quality, reference)
        return self._gate


def _by_engine(family: Family) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for precision, engines in family.engines.items():
        for engine in engines:
            out.setdefault(engine, []).append(precision)
    return out


def _identity(photo: Path) -> str:
    """A calibration photo as the int8 model's id sees it: where it is, and which bytes."""
    stat = photo.stat()
    return f"{photo.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
