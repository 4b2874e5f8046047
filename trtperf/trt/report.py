"""Layer and fusion report: the engine's layers and the ONNX nodes fused into each.

Input is the engine inspector's JSON (``IEngineInspector.get_engine_information(JSON)``), built
with ProfilingVerbosity.DETAILED so each layer record carries ``Metadata`` naming its ONNX nodes
(``[ONNX Layer: node_Conv_0]``, one per fused node). Without metadata the ONNX node names are
recovered from the layer's name (``node_Conv_0 + node_relu``, ``PWN(node_add, node_relu)``).
Pure functions: the JSON text and the ONNX node table in, a :class:`LayerReport` out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ONNX_LAYER = re.compile(r"\[ONNX Layer: ([^\]\x1e\x1f]+)\]")
_NAME_TOKEN = re.compile(r"[^\s,()+\[\]]+")


def onnx_nodes_in_metadata(metadata: str) -> list[str]:
    """Node names from a layer's metadata, in order, without duplicates."""
    return list(dict.fromkeys(m.strip() for m in _ONNX_LAYER.findall(metadata)))


def onnx_node_ops(onnx_path: Path) -> dict[str, str]:
    """ONNX node name -> operator type, for naming what a fused layer was made of."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return {node.name: node.op_type for node in model.graph.node if node.name}


@dataclass(frozen=True)
class EngineLayer:
    name: str
    type: str
    onnx_nodes: tuple[str, ...]
    tactic: str = ""


@dataclass
class LayerReport:
    layers: list[EngineLayer]
    node_ops: Mapping[str, str] = field(default_factory=dict)

    def fused(self) -> list[EngineLayer]:
        """Layers made of two or more ONNX nodes."""
        return [layer for layer in self.layers if len(layer.onnx_nodes) > 1]

    def ops(self, layer: EngineLayer) -> str:
        return "+".join(self.node_ops.get(node, "?") for node in layer.onnx_nodes)

    def unmapped_nodes(self) -> list[str]:
        """ONNX nodes in no engine layer (constant-folded, or merged without metadata)."""
        seen = {node for layer in self.layers for node in layer.onnx_nodes}
        return sorted(name for name in self.node_ops if name not in seen)

    def to_json(self) -> dict[str, Any]:
        return {
            "engine_layers": len(self.layers),
            "onnx_nodes": len(self.node_ops),
            "fused_layers": [
                {"layer": layer.name, "type": layer.type, "onnx_nodes": list(layer.onnx_nodes),
                 "ops": self.ops(layer)}
                for layer in self.fused()
            ],
            "onnx_nodes_in_no_layer": self.unmapped_nodes(),
        }

    def render(self) -> str:
        """A readable table: one line per engine layer, with the ONNX operators it absorbed."""
        lines = [f"{len(self.layers)} engine layers from {len(self.node_ops)} ONNX nodes "
                 f"({len(self.fused())} fused layers)"]
        width = max((len(layer.name) for layer in self.layers), default=10)
        width = min(width, 70)
        for layer in self.layers:
            nodes = ", ".join(layer.onnx_nodes) or "-"
            ops = self.ops(layer) if layer.onnx_nodes else ""
            mark = "*" if len(layer.onnx_nodes) > 1 else " "
            lines.append(f"{mark} {layer.name[:width]:<{width}}  {layer.type:<14} {ops:<28} {nodes}")
        unmapped = self.unmapped_nodes()
        if unmapped:
            lines.append(f"ONNX nodes in no engine layer (folded or merged): {', '.join(unmapped)}")
        return "\n".join(lines) + "\n"


def _nodes_from_name(name: str, node_ops: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(tok for tok in _NAME_TOKEN.findall(name) if tok in node_ops))


def _layer(record: Any, node_ops: Mapping[str, str]) -> EngineLayer:
    if isinstance(record, str):  # LAYER_NAMES_ONLY verbosity: just the name
        return EngineLayer(record, "", _nodes_from_name(record, node_ops))
    name = str(record.get("Name", ""))
    nodes = tuple(onnx_nodes_in_metadata(str(record.get("Metadata", "")))) or _nodes_from_name(name, node_ops)
    return EngineLayer(
        name=name,
        type=str(record.get("LayerType", "")),
        onnx_nodes=nodes,
        tactic=str(record.get("TacticName", record.get("Tactic", ""))),
    )


def parse_inspector_json(text: str, node_ops: Mapping[str, str]) -> LayerReport:
    """The report for one engine; ValueError when ``text`` is not the inspector's JSON."""
    data = json.loads(text)
    records: Sequence[Any] = data.get("Layers", []) if isinstance(data, dict) else []
    if not isinstance(data, dict) or "Layers" not in data:
        raise ValueError("not engine inspector JSON: no 'Layers' list")
    return LayerReport([_layer(record, node_ops) for record in records], dict(node_ops))
