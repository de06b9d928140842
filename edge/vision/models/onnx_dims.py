"""Make a model's input height and width dynamic, in memory, without the `onnx` package.

YuNet's file fixes its input at 640 x 640, and onnxruntime rejects any other size; the
network itself is fully convolutional. Rewriting the graph's input and output shapes to
named (free) dimensions and dropping the stored intermediate shapes (`value_info`, which
onnxruntime infers again) lets a 640 x 480 frame in unpadded: about a quarter less work.

This walks the protobuf wire format of ModelProto -> GraphProto -> ValueInfoProto ->
TypeProto.Tensor -> TensorShapeProto.Dimension and copies every other byte as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

# field numbers from onnx.proto
MODEL_GRAPH = 7
GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO = 11, 12, 13
VALUE_INFO_NAME, VALUE_INFO_TYPE = 1, 2
TYPE_TENSOR = 1
TENSOR_SHAPE = 2
SHAPE_DIM = 1
DIM_PARAM = 2

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or malformed varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _enc_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """(field number, wire type, payload for LEN fields, the field's raw bytes)."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        field, wtype = key >> 3, key & 7
        payload = b""
        if wtype == VARINT:
            _, pos = _varint(buf, pos)
        elif wtype == FIXED64:
            pos += 8
        elif wtype == FIXED32:
            pos += 4
        elif wtype == LEN:
            n, pos = _varint(buf, pos)
            payload = buf[pos:pos + n]
            pos += n
        else:
            raise ValueError(f"unsupported wire type {wtype}")
        if pos > len(buf):
            raise ValueError("truncated field")
        yield field, wtype, payload, buf[start:pos]


def _len_field(field: int, payload: bytes) -> bytes:
    return _enc_varint(field << 3 | LEN) + _enc_varint(len(payload)) + payload


def _rewrite(buf: bytes, field: int, fn: Callable[[bytes], bytes]) -> bytes:
    """`buf` with every LEN field `field` replaced by fn(payload)."""
    out = bytearray()
    for f, wtype, payload, raw in _fields(buf):
        out += _len_field(f, fn(payload)) if f == field and wtype == LEN else raw
    return bytes(out)


def _shape_params(shape: bytes, params: Mapping[int, str]) -> bytes:
    out = bytearray()
    index = 0
    for f, wtype, _, raw in _fields(shape):
        if f == SHAPE_DIM and wtype == LEN:
            out += (_len_field(SHAPE_DIM, _len_field(DIM_PARAM, params[index].encode()))
                    if index in params else raw)
            index += 1
        else:
            out += raw
    return bytes(out)


def _value_info_params(vi: bytes, params: Mapping[int, str]) -> bytes:
    return _rewrite(vi, VALUE_INFO_TYPE, lambda t: _rewrite(
        t, TYPE_TENSOR, lambda tt: _rewrite(
            tt, TENSOR_SHAPE, lambda s: _shape_params(s, params))))


def _name(vi: bytes) -> str:
    for f, wtype, payload, _ in _fields(vi):
        if f == VALUE_INFO_NAME and wtype == LEN:
            return payload.decode("utf-8", "replace")
    return ""


def dynamic_spatial_dims(model: bytes, input_name: str) -> bytes:
    """`model` with input `input_name`'s dims 2 and 3 (H, W) and every output's dim 1 made
    free, and the stored intermediate shapes dropped. ValueError if it cannot be parsed."""

    def graph(g: bytes) -> bytes:
        out = bytearray()
        found = False
        for f, wtype, payload, raw in _fields(g):
            if f == GRAPH_VALUE_INFO:
                continue
            if f == GRAPH_INPUT and wtype == LEN and _name(payload) == input_name:
                found = True
                out += _len_field(f, _value_info_params(payload, {2: "height", 3: "width"}))
            elif f == GRAPH_OUTPUT and wtype == LEN:
                out += _len_field(f, _value_info_params(payload,
                                                        {1: f"cells_{_name(payload)}"}))
            else:
                out += raw
        if not found:
            raise ValueError(f"the graph has no input {input_name!r}")
        return bytes(out)

    return _rewrite(model, MODEL_GRAPH, graph)
