"""One reader of an exported model file: tensor names and shapes, metadata and spec.

:meth:`ModelFile.read` parses the ONNX file with ``onnx`` (no inference session, external
weights not loaded) and gives everything the runtime, the CLI and the Triton deployment
need to know about a model without running it. Imports neither torch nor the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from e2e_gnn.checksum import verify_checksum as _verify_checksum
from e2e_gnn.spec import CHECKSUM_KEY, VERSION_KEY, ModelSpec, SpecError, TensorSpec

if TYPE_CHECKING:
    import onnx

__all__ = ["ModelFile"]


@dataclass(frozen=True)
class ModelFile:
    """An exported model as its ONNX file describes it.

    Attributes:
        path: the ``.onnx`` file.
        inputs, outputs: the graph's tensors in order; dtype as a numpy name, shape with an
            int per static axis and the axis name (``"?"`` when unnamed) per dynamic one.
        metadata: the ONNX ``metadata_props``.
        spec: the model's :class:`~e2e_gnn.spec.ModelSpec` (from ``metadata``).
        opset: version of the default ONNX operator set.
        external_data: initializers whose data lives in a side file, not in ``path``.
        custom_domains: operator domains beyond ONNX's own that the graph uses (e.g.
            ``"ai.e2e_gnn"`` for a model exported with fused operators).
    """

    path: Path
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: dict[str, str]
    spec: ModelSpec
    opset: int
    external_data: tuple[str, ...] = ()
    custom_domains: tuple[str, ...] = ()

    @classmethod
    def read(cls, path: str | Path, *, verify_checksum: bool = True) -> ModelFile:
        """Read ``path``; raise FileNotFoundError for a missing file, SpecError for a file
        that is not ONNX or has no e2e_gnn metadata, and (``verify_checksum``)
        ChecksumError when its graph and weights no longer match the export's checksum."""
        import onnx
        from google.protobuf.message import DecodeError

        path = Path(path)
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            msg = f"model file {str(path)!r} {what}"
            raise FileNotFoundError(msg)
        data = path.read_bytes()  # once: parsed here and hashed by the checksum check
        try:
            model = onnx.load_from_string(data)
        except (DecodeError, ValueError, RuntimeError) as err:
            msg = f"cannot load {str(path)!r} as an ONNX model: {err}"
            raise SpecError(msg) from None
        if model.ir_version < 1 or not model.graph.output:
            msg = f"cannot load {str(path)!r} as an ONNX model: it has no IR version or outputs"
            raise SpecError(msg)
        metadata = {entry.key: entry.value for entry in model.metadata_props}
        spec = ModelSpec.from_metadata(metadata, source=f"model {str(path)!r}")
        external = tuple(
            t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
        )
        if verify_checksum:
            if external:
                msg = (
                    f"{str(path)!r} keeps {len(external)} tensor(s) (e.g. {external[0]!r}) in "
                    f"an external data file, which its checksum cannot cover: save it as one "
                    f"file (onnx.save_model(model, path, save_as_external_data=False)) or pass "
                    f"verify_checksum=False"
                )
                raise SpecError(msg)
            _verify_checksum(path, metadata, data=data)
        initializers = {t.name for t in model.graph.initializer}
        return cls(
            path=path,
            inputs=tuple(_tensor(v) for v in model.graph.input if v.name not in initializers),
            outputs=tuple(_tensor(v) for v in model.graph.output),
            metadata=metadata,
            spec=spec,
            opset=next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0),
            external_data=external,
            custom_domains=tuple(
                sorted({o.domain for o in model.opset_import} - {"", "ai.onnx", "ai.onnx.ml"})
            ),
        )

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    @property
    def checksum(self) -> str:
        """The export's ``e2e_gnn.checksum`` (sha256 of graph and weights)."""
        return self.metadata.get(CHECKSUM_KEY, "")

    @property
    def version(self) -> str:
        """The e2e_gnn version that exported the model."""
        return self.metadata.get(VERSION_KEY, "")


def _tensor(value: onnx.ValueInfoProto) -> TensorSpec:
    import onnx

    tensor = value.type.tensor_type
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name if tensor.elem_type else ""
    shape = tuple(
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim
    )
    return TensorSpec(value.name, dtype, shape)
